"""A real OCI registry (CNCF Distribution 2.8, Debian's ``docker-registry``) on loopback.

Each :class:`LocalRegistry` owns a work directory holding its config, storage and log.
It binds ``127.0.0.1`` on a free port only, never all interfaces.  Options cover what
tests need: webhook notifications (``notifications_url`` + bearer token) and htpasswd
basic auth.
"""

from __future__ import annotations

import logging
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import bcrypt
import httpx
import yaml

logger = logging.getLogger(__name__)

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
_START_TIMEOUT_S = 20.0
_START_ATTEMPTS = 3


class RegistryStartError(RuntimeError):
    """The registry process did not come up; the message includes its log."""


@dataclass(frozen=True)
class BasicAuth:
    """Credentials the registry accepts (written to an htpasswd file with bcrypt)."""

    username: str
    password: str

    def htpasswd_line(self) -> str:
        digest = bcrypt.hashpw(self.password.encode(), bcrypt.gensalt(rounds=5))
        return f"{self.username}:{digest.decode()}\n"


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalRegistry:
    """Start/stop a Distribution registry process serving ``http://127.0.0.1:PORT``."""

    def __init__(
        self,
        workdir: Path,
        *,
        notifications_url: str | None = None,
        notifications_token: str | None = None,
        auth: BasicAuth | None = None,
        binary: Path = REGISTRY_BINARY,
    ) -> None:
        if (notifications_url is None) != (notifications_token is None):
            raise ValueError("give notifications_url and notifications_token together")
        self.workdir = workdir
        self.notifications_url = notifications_url
        self.notifications_token = notifications_token
        self.auth = auth
        self.binary = binary
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of an image reference."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "storage"

    def config(self) -> dict[str, Any]:
        """The Distribution configuration document this registry runs with."""
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.host, "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if self.auth is not None:
            htpasswd = self.workdir / "htpasswd"
            htpasswd.write_text(self.auth.htpasswd_line())
            config["auth"] = {"htpasswd": {"realm": "tollgate-test", "path": str(htpasswd)}}
        if self.notifications_url is not None:
            config["notifications"] = {
                "endpoints": [
                    {
                        "name": "tollgate",
                        "url": self.notifications_url,
                        "headers": {"Authorization": [f"Bearer {self.notifications_token}"]},
                        "timeout": "1s",
                        "threshold": 3,
                        "backoff": "1s",
                    }
                ]
            }
        return config

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir.mkdir(exist_ok=True)
        for attempt in range(1, _START_ATTEMPTS + 1):
            self.port = free_loopback_port()
            config_path = self.workdir / "config.yml"
            config_path.write_text(yaml.safe_dump(self.config(), sort_keys=False))
            with self.log_path.open("ab") as log:
                self._process = subprocess.Popen(
                    [str(self.binary), "serve", str(config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_ready():
                logger.info("registry ready at %s (attempt %d)", self.url, attempt)
                return
            self.stop()
        raise RegistryStartError(
            f"docker-registry did not answer on 127.0.0.1 after {_START_ATTEMPTS} attempts; "
            f"log:\n{self.log_path.read_text(errors='replace')[-4000:]}"
        )

    def _wait_ready(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + _START_TIMEOUT_S
        with httpx.Client(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    return False  # e.g. the port was taken between probe and bind
                try:
                    response = client.get(f"{self.url}/v2/")
                except httpx.TransportError:
                    time.sleep(0.05)
                    continue
                return response.status_code in (200, 401)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> LocalRegistry:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
