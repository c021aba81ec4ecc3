"""Serve one pinned image's OCI layout to an engine as a read-only registry on 127.0.0.1.

Why: go-containerregistry (inside Syft) cannot take layer diff IDs from the image
config when it reads an OCI layout directory, so ``oci-dir:`` decompresses and
hashes every layer an extra time (about a fifth of Syft's CPU on a Debian image).
Pulled from a registry, the same image is read once. The engine gets exactly the
verified blobs of the layout, by digest, under an unguessable repository name;
nothing else is served and the endpoint lives only for the ``with`` block.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

from service.image.download import LayerArrivals
from service.image.layout import LayoutReader
from service.image.model import PinnedImage

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
# How quickly the serving thread notices shutdown (it wakes at once for requests).
_SHUTDOWN_POLL_S = 0.02


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        repository: str,
        manifest: tuple[str, str, Path],
        blobs: dict[str, Path],
        arrivals: LayerArrivals | None,
    ):
        super().__init__((LOOPBACK, 0), _Handler)
        self.repository = repository
        self.manifest_digest, self.manifest_type, self.manifest_path = manifest
        self.blobs = blobs
        self.arrivals = arrivals

    def blob(self, digest: str) -> Path | None:
        """The blob's file once it is in the cache; None if it is not served or never arrives."""
        path = self.blobs.get(digest)
        if path is None or path.exists():
            return path
        return path if self.arrivals is not None and self.arrivals.wait_for(digest) else None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def do_GET(self) -> None:
        self._respond(body=True)

    def _respond(self, *, body: bool) -> None:
        server = self.server
        kind, _, digest = self.path.removeprefix(f"/v2/{server.repository}/").partition("/")
        if self.path == "/v2/":
            self._send_bytes(b"{}", body=body)
        elif kind == "manifests" and digest == server.manifest_digest:
            self._send_file(server.manifest_path, server.manifest_type, digest, body=body)
        elif kind == "blobs" and (path := server.blob(digest)) is not None:
            self._send_file(path, "application/octet-stream", digest, body=body)
        else:
            error = {"errors": [{"code": "NOT_FOUND", "message": "not served here"}]}
            self._send_bytes(json.dumps(error).encode(), body=body, status=HTTPStatus.NOT_FOUND)

    def _send_bytes(self, data: bytes, *, body: bool, status: HTTPStatus = HTTPStatus.OK) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _send_file(self, path: Path, content_type: str, digest: str, *, body: bool) -> None:
        with path.open("rb") as blob:
            size = path.stat().st_size
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(size))
            self.send_header("Docker-Content-Digest", digest)
            self.end_headers()
            if body:
                self.connection.sendfile(blob)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("loopback registry: " + format, *args)


class LoopbackRegistry:
    """``with LoopbackRegistry(image) as served:`` an engine pulls ``served.reference``.

    With ``arrivals``, layers still being downloaded are served once they are cached
    and verified (the engine's request waits); a layer that never arrives is a 404.
    """

    def __init__(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> None:
        layout = LayoutReader(image.layout)
        self._repository = f"tollgate/{secrets.token_hex(16)}"
        self._digest = image.digest
        self._manifest = (image.digest, image.media_type, layout.blob_path(image.digest))
        self._blobs = {image.config_digest: layout.blob_path(image.config_digest)}
        self._blobs.update({digest: layout.location(digest) for digest in image.layers})
        self._arrivals = arrivals
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def reference(self) -> str:
        """``127.0.0.1:PORT/tollgate/<token>@<manifest digest>``"""
        if self._server is None:
            raise RuntimeError("LoopbackRegistry used outside its 'with' block")
        port = self._server.server_address[1]
        return f"{LOOPBACK}:{port}/{self._repository}@{self._digest}"

    def __enter__(self) -> LoopbackRegistry:
        self._server = _Server(self._repository, self._manifest, self._blobs, self._arrivals)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _SHUTDOWN_POLL_S},
            name="loopback-registry",
            daemon=True,
        )
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = self._thread = None
