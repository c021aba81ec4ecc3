"""Helpers for the scan-service integration tests: a uvicorn server in a thread, a registry
that notifies it of pushes, API clients, polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy.engine import Engine

from service.auth.tokens import Scope, TokenAuthority
from service.store.tokens import TokenStore
from tests.support.oci import ImageSpec, push, write_image
from tests.support.registry import LocalRegistry, free_loopback_port

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
WEBHOOK_SECRET = "integration-webhook-secret-0123"
# The test registries listen on loopback: remote requests may pull from them only when named.
LOOPBACK_REGISTRIES = ["127.0.0.1:*"]
# Only an unscanned image or a critical finding blocks: the tiny test image passes.
PASSING_BUNDLE = """
name: default
default: gate
policies:
  - name: gate
    rules:
      - {id: scanned, type: scan_status, action: block}
      - {id: critical, type: severity_gate, action: block, severity: critical}
"""


class ServerThread:
    """uvicorn serving ``app`` on 127.0.0.1:``port`` until stopped."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ServerThread:
        self._thread.start()
        wait_for(lambda: self._server.started, 20, "the API server did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)


def api_token(engine: Engine, name: str, *scopes: Scope) -> str:
    """A new API token with ``scopes``, stored in ``engine``'s token table."""
    return TokenAuthority(TokenStore(engine), None).issue(frozenset(scopes), name).secret


def api_client(server: ServerThread, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


@contextmanager
def notifying_registry(
    app: FastAPI, registry_root: Path, token: str
) -> Iterator[tuple[LocalRegistry, httpx.Client]]:
    """``app`` served on a free loopback port, a registry in ``registry_root`` that notifies it
    of every push (distribution webhook) and a client of the API holding ``token``."""
    with (
        ServerThread(app, free_loopback_port()) as server,
        LocalRegistry(
            registry_root,
            notifications_url=f"{server.url}/api/v1/webhooks/distribution",
            notifications_token=WEBHOOK_SECRET,
        ) as registry,
        api_client(server, token) as client,
    ):
        yield registry, client


def wait_for(check: Callable[[], Any], timeout: float, message: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(message)


def finished_scan(client: httpx.Client, scan_id: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        scan = client.get(f"/api/v1/scans/{scan_id}").json()
        return scan if scan["status"] in ("done", "failed") else None

    return wait_for(done, timeout, f"scan {scan_id} did not finish", every=0.5)


def push_tiny_image(
    tmp: Path, registry_host: str, repo: str, marker: str, *, creds: str | None = None
) -> str:
    """A one-layer Debian-like image (os-release + one dpkg stanza); returns its digest."""
    status = (
        "Package: tollgate-fixture\nStatus: install ok installed\nVersion: 1.0-1\n"
        f"Architecture: amd64\nDescription: {marker}\n\n"
    ).encode()
    spec = ImageSpec(
        layers=[
            {
                "etc/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "var/lib/dpkg/status": status,
            }
        ]
    )
    layout = tmp / f"layout-{marker}"
    write_image(layout, spec, tag="1")
    return push(layout, "1", registry_host, repo, creds=creds)
