"""An in-memory OCI distribution registry behind ``httpx.MockTransport`` (our transport
boundary), plus helpers building real image blobs from file contents."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@dataclass
class Image:
    """An image's blobs, ready to push: manifest, config and gzip layers."""

    manifest: bytes
    config: bytes
    layers: list[bytes]
    platform: dict[str, str]

    @property
    def digest(self) -> str:
        return sha(self.manifest)

    def blobs(self) -> dict[str, bytes]:
        return {sha(b): b for b in [self.config, *self.layers]}


def build_image(
    files: dict[str, bytes], *, arch: str = "amd64", variant: str | None = None, user: str = ""
) -> Image:
    tar = layer_tar(files)
    layer = gzip.compress(tar, mtime=0)
    platform = {"os": "linux", "architecture": arch} | ({"variant": variant} if variant else {})
    config = json.dumps(
        platform
        | {
            "config": {"User": user, "Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(tar)]},
            "history": [{"created_by": "ADD files /"}],
        }
    ).encode()
    manifest = json.dumps(manifest_document(config, [(OCI_LAYER_GZIP, layer)])).encode()
    return Image(manifest, config, [layer], platform)


def manifest_document(config: bytes, layers: Sequence[tuple[str, bytes]]) -> dict[str, Any]:
    """An OCI image manifest naming ``config`` and ``layers`` (media type, blob)."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha(config), "size": len(config)},
        "layers": [
            {"mediaType": media_type, "digest": sha(blob), "size": len(blob)}
            for media_type, blob in layers
        ],
    }


def build_index(images: list[Image]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": img.digest,
                    "size": len(img.manifest),
                    "platform": img.platform,
                }
                for img in images
            ],
        }
    ).encode()


_PATH = re.compile(r"^/v2/(?P<repo>.+?)/(?P<kind>manifests|blobs|referrers)/(?P<ref>[^/]+)$")
_UPLOAD = re.compile(r"^/v2/(?P<repo>.+?)/blobs/uploads/(?P<id>[^/]*)$")


@dataclass
class FakeRegistry:
    """Distribution behaviour: manifests by tag/digest, blobs, uploads, referrers (404 by
    default), optional Bearer token auth, and injected failures."""

    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    token_auth: bool = False
    token_basic_auth: tuple[str, str] | None = None  # the only credentials the token service takes
    basic_auth: tuple[str, str] | None = None
    failures: list[int | Exception] = field(default_factory=list)  # consumed one per request
    corrupt: set[str] = field(default_factory=set)  # digests served with wrong bytes
    requests: list[httpx.Request] = field(default_factory=list)
    token_requests: list[httpx.Request] = field(default_factory=list)
    referrers_api: bool = False

    def push(self, repo: str, image: Image, tag: str | None = None) -> None:
        self.blobs.update(image.blobs())
        self.manifests[(repo, image.digest)] = (OCI_MANIFEST, image.manifest)
        if tag:
            self.manifests[(repo, tag)] = (OCI_MANIFEST, image.manifest)

    def push_index(self, repo: str, images: list[Image], tag: str) -> str:
        for image in images:
            self.push(repo, image)
        index = build_index(images)
        self.manifests[(repo, sha(index))] = (OCI_INDEX, index)
        self.manifests[(repo, tag)] = (OCI_INDEX, index)
        return sha(index)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def count(self, kind: str) -> Counter[str]:
        return Counter(r.method for r in self.requests if f"/{kind}/" in r.url.path)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            return self._token(request)
        self.requests.append(request)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, Exception):
                raise failure
            return httpx.Response(failure)
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        upload = _UPLOAD.match(request.url.path)
        if upload:
            return self._upload(request, upload["repo"], upload["id"])
        match = _PATH.match(request.url.path)
        if match is None:
            return httpx.Response(200 if request.url.path == "/v2/" else 404)
        repo, kind, ref = match["repo"], match["kind"], match["ref"]
        if kind == "manifests":
            return self._manifest(request, repo, ref)
        if kind == "referrers":
            if not self.referrers_api:
                return httpx.Response(404)
            return httpx.Response(200, json={"schemaVersion": 2, "manifests": []})
        data = self.blobs.get(ref)
        if data is None:
            return httpx.Response(404, json={"errors": [{"code": "BLOB_UNKNOWN"}]})
        body = b"X" + data[1:] if ref in self.corrupt else data
        return httpx.Response(200, content=b"" if request.method == "HEAD" else body)

    def _manifest(self, request: httpx.Request, repo: str, ref: str) -> httpx.Response:
        if request.method == "PUT":
            content = request.content
            media_type = request.headers["Content-Type"]
            self.manifests[(repo, ref)] = (media_type, content)
            self.manifests[(repo, sha(content))] = (media_type, content)
            return httpx.Response(201, headers={"Docker-Content-Digest": sha(content)})
        found = self.manifests.get((repo, ref))
        if found is None:
            return httpx.Response(404, json={"errors": [{"code": "MANIFEST_UNKNOWN"}]})
        media_type, content = found
        body = (
            content.replace(b"schemaVersion", b"schemaversion") if ref in self.corrupt else content
        )
        headers = {"Content-Type": media_type, "Docker-Content-Digest": sha(content)}
        return httpx.Response(
            200, headers=headers, content=b"" if request.method == "HEAD" else body
        )

    def _upload(self, request: httpx.Request, repo: str, upload_id: str) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, headers={"Location": f"/v2/{repo}/blobs/uploads/u1?state=x"})
        assert request.url.params["state"] == "x"
        digest = request.url.params["digest"]
        assert sha(request.content) == digest
        self.blobs[digest] = request.content
        return httpx.Response(201, headers={"Docker-Content-Digest": digest})

    def _check_auth(self, request: httpx.Request) -> httpx.Response | None:
        given = request.headers.get("Authorization", "")
        if self.basic_auth is not None and given != _basic(self.basic_auth):
            return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="fake"'})
        if self.token_auth:
            match = _PATH.match(request.url.path) or _UPLOAD.match(request.url.path)
            repo = match["repo"] if match else ""
            action = "pull" if request.method in ("GET", "HEAD") else "pull,push"
            if given != f"Bearer token-for-repository:{repo}:{action}":
                challenge = (
                    'Bearer realm="https://auth.test/token",service="fake",'
                    f'scope="repository:{repo}:{action}"'
                )
                return httpx.Response(401, headers={"WWW-Authenticate": challenge})
        return None

    def _token(self, request: httpx.Request) -> httpx.Response:
        self.token_requests.append(request)
        if self.token_basic_auth is not None and (
            request.headers.get("Authorization") != _basic(self.token_basic_auth)
        ):
            return httpx.Response(401, json={"details": "incorrect username or password"})
        scope = request.url.params.get("scope", "")
        return httpx.Response(200, json={"token": f"token-for-{scope}", "expires_in": 300})


def _basic(credentials: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(":".join(credentials).encode()).decode()
