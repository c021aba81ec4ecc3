"""Registry credentials from TOLLGATE_REGISTRY_AUTH or the Docker config file.

Credentials are never logged: :class:`Credentials` hides the password from ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import ConfigurationError
from service.settings import Settings

logger = logging.getLogger(__name__)

_HUB_KEYS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)


def normalize_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``index.docker.io``; Docker Hub aliases unified."""
    host = key.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0].lower()
    return "index.docker.io" if host in _HUB_KEYS else host


class CredentialStore:
    """host[:port] -> Credentials; TOLLGATE_REGISTRY_AUTH wins over the Docker config."""

    def __init__(self, entries: dict[str, Credentials]) -> None:
        self._entries = {normalize_host(host): creds for host, creds in entries.items()}

    def lookup(self, host: str) -> Credentials | None:
        return self._entries.get(normalize_host(host))

    def with_entry(self, host: str, credentials: Credentials) -> CredentialStore:
        """A copy in which ``host`` uses ``credentials`` (e.g. those one request carried)."""
        return CredentialStore({**self._entries, normalize_host(host): credentials})

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialStore:
        config_path = settings.docker_config or Path.home() / ".docker" / "config.json"
        entries = _docker_config_entries(config_path)
        if settings.registry_auth is not None:
            entries.update(_env_entries(settings.registry_auth.get_secret_value()))
        return cls(entries)


def _env_entries(text: str) -> dict[str, Credentials]:
    hint = 'expected JSON like {"host:port": {"username": "...", "password": "..."}}'
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        # exc's message would quote the secret text: say only where it failed
        raise ConfigurationError(
            f"TOLLGATE_REGISTRY_AUTH is not valid JSON (line {exc.lineno})", hint=hint
        ) from None
    if not isinstance(document, dict):
        raise ConfigurationError("TOLLGATE_REGISTRY_AUTH must be a JSON object", hint=hint)
    entries: dict[str, Credentials] = {}
    for host, value in document.items():
        if not (
            isinstance(value, dict)
            and isinstance(value.get("username"), str)
            and isinstance(value.get("password"), str)
        ):
            raise ConfigurationError(
                f"TOLLGATE_REGISTRY_AUTH entry for {host!r} needs string username and password",
                hint=hint,
            )
        entries[host] = Credentials(value["username"], value["password"])
    return entries


def _docker_config_entries(path: Path) -> dict[str, Credentials]:
    try:
        document: Any = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"cannot read Docker config {path}: {type(exc).__name__}",
            hint="fix the file or point TOLLGATE_DOCKER_CONFIG at another one",
        ) from None
    if not isinstance(document, dict):
        return {}
    auths = document.get("auths")
    if document.get("credsStore") or document.get("credHelpers"):
        logger.info("%s uses credential helpers, which Tollgate does not run", path)
    entries: dict[str, Credentials] = {}
    for host, value in (auths if isinstance(auths, dict) else {}).items():
        creds = _docker_entry(value) if isinstance(value, dict) else None
        if creds is None:
            logger.debug("no usable credentials for %s in %s", host, path)
            continue
        entries[host] = creds
    return entries


def _docker_entry(value: dict[str, Any]) -> Credentials | None:
    auth = value.get("auth")
    if isinstance(auth, str) and auth:
        try:
            username, sep, password = base64.b64decode(auth).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Credentials(username, password) if sep else None
    user, secret = value.get("username"), value.get("password")
    if isinstance(user, str) and isinstance(secret, str):
        return Credentials(user, secret)
    return None
