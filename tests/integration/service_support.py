"""Helpers for the scan-service integration tests: a uvicorn server in a thread, polling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.oci import ImageSpec, push, write_image

VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
WEBHOOK_SECRET = "integration-webhook-secret-0123"


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
