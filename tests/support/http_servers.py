"""Tiny HTTP servers on loopback ports that record what reaches them: a fake internal service
(the target of a server-side request forgery), or a scripted registry that redirects or
challenges. Each binds 127.0.0.1 only."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


Script = Callable[[Received], Answer]


def _secret_answer(_: Received) -> Answer:
    """What an internal service would say: something no caller may read back."""
    return Answer(
        500, {"Content-Type": "application/json"}, b'{"errors":[{"message":"INTERNAL-SECRET"}]}'
    )


class RecordingServer:
    """``with RecordingServer(script) as server``: serves ``server.url`` until the block ends;
    ``server.received`` lists every request (the connection count is ``len``)."""

    def __init__(self, script: Script = _secret_answer) -> None:
        self.received: list[Received] = []
        received, answer = self.received, script

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                request = Received(self.command, self.path, dict(self.headers.items()))
                received.append(request)
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                reply = answer(request)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            do_GET = do_HEAD = do_POST = do_PUT = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> RecordingServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
