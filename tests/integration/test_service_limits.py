"""Unauthenticated memory exhaustion, as an attacker would try it against the running service:
large bodies without a token are answered 401 before they are read, large bodies with one
413, and the process neither grows nor stops answering ``/healthz``."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from tests.integration.service_support import WEBHOOK_SECRET, ServerThread, api_token
from tests.support.registry import free_loopback_port

pytestmark = pytest.mark.integration

ATTACK_BYTES = 24 << 20  # what each request claims (and starts) to send
SENT_BYTES = 4 << 20  # what it sends before reading the answer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, str]]:
    root = tmp_path_factory.mktemp("limits")
    engine = make_engine(f"sqlite:///{root / 'tollgate.db'}")
    settings = Settings(data_dir=root / "data", webhook_secret=Secret(WEBHOOK_SECRET))
    token = api_token(engine, "it", Scope.SCAN)
    with ServerThread(create_app(settings, engine=engine), free_loopback_port()) as running:
        yield running, token


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def flood(url: str, path: str, headers: dict[str, str], *, chunked: bool = False) -> int:
    """POST a huge body over a raw socket, sending until the server answers; its status."""
    host, port = url.removeprefix("http://").split(":")
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {ATTACK_BYTES}")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        piece = b"[" + b" " * (64 << 10)
        if chunked:
            piece = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        try:
            for _ in range(SENT_BYTES // len(piece)):
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed without reading the rest
        answer = sock.makefile("rb").readline()
    return int(answer.split()[1])


def test_large_bodies_are_refused_before_they_are_read(server: tuple[ServerThread, str]) -> None:
    running, token = server
    before = rss_bytes()
    for path in ("/api/v1/scans", "/api/v1/admission", "/harbor/api/v1/scan"):
        for _ in range(2):
            assert flood(running.url, path, {}) == 401
    bearer = {"Authorization": f"Bearer {token}"}
    assert flood(running.url, "/api/v1/scans", bearer) == 413
    assert flood(running.url, "/api/v1/scans", bearer, chunked=True) == 413
    grown = rss_bytes() - before
    assert grown < 32 << 20, f"the process grew by {grown >> 20} MiB"
    assert httpx.get(f"{running.url}/healthz", timeout=2).status_code == 200
