"""Registry credentials from TOLLGATE_REGISTRY_AUTH or the Docker config file.

For each host, as Docker does: TOLLGATE_REGISTRY_AUTH wins; else the Docker config's
``credHelpers[host]``, else its ``credsStore``, names a credential helper whose answer is
final (no credentials from it means none); else the ``auths`` entry. Helpers run on the
first lookup of a host (:mod:`service.registry.credential_helpers`); their answer is reused
for :data:`HELPER_ANSWER_TTL_SECONDS`, and a lookup after that runs the helper again, so
that a client whose credentials a registry refused (see :mod:`service.registry.auth`)
picks up a short-lived helper token that was renewed meanwhile.

Credentials are never logged: :class:`Credentials` hides the password from ``repr``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from service.errors import ConfigurationError
from service.registry.credential_helpers import (
    IDENTITY_TOKEN_USERNAME,
    CredentialHelper,
    HelperAnswer,
)
from service.settings import Settings

logger = logging.getLogger(__name__)

_HUB = "index.docker.io"
_HUB_KEYS = frozenset({"docker.io", _HUB, "registry-1.docker.io"})
_HUB_SERVER_URL = "https://index.docker.io/v1/"  # the key Docker uses for Docker Hub
HELPER_ANSWER_TTL_SECONDS = 300.0
"""How long a helper's answer is reused: short next to the tokens helpers hand out (ECR:
12 h, gcloud: 1 h), long enough that refused requests do not run a helper each time."""


@dataclass(frozen=True)
class Credentials:
    """A username and password; with ``identity_token``, ``password`` is an OAuth2 refresh
    token (Docker's identity token), exchanged at the registry's token service."""

    username: str
    password: str = field(repr=False)
    identity_token: bool = False


CredentialSource: TypeAlias = Callable[[], Credentials | None]
"""One host's credentials, looked up on each call (e.g. ``CredentialStore.lookup`` bound to
the host); None: anonymous."""


def normalize_host(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``index.docker.io``; Docker Hub aliases unified."""
    host = key.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0].lower()
    return _HUB if host in _HUB_KEYS else host


class CredentialStore:
    """host[:port] -> Credentials: ``entries`` (TOLLGATE_REGISTRY_AUTH) win over ``docker``."""

    def __init__(
        self, entries: dict[str, Credentials], docker: DockerCredentials | None = None
    ) -> None:
        self._entries = {normalize_host(host): creds for host, creds in entries.items()}
        self._docker = docker

    def lookup(self, host: str) -> Credentials | None:
        key = normalize_host(host)
        if key in self._entries:
            return self._entries[key]
        return None if self._docker is None else self._docker.lookup(key)

    def with_entry(self, host: str, credentials: Credentials) -> CredentialStore:
        """A copy in which ``host`` uses ``credentials`` (e.g. those one request carried)."""
        entries = {**self._entries, normalize_host(host): credentials}
        return CredentialStore(entries, self._docker)

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialStore:
        config_path = settings.docker_config or Path.home() / ".docker" / "config.json"
        docker = DockerCredentials.read(config_path, helper_timeout=settings.registry_timeout)
        entries: dict[str, Credentials] = {}
        if settings.registry_auth is not None:
            entries = _env_entries(settings.registry_auth.get_secret_value())
        return cls(entries, docker)


@dataclass(frozen=True)
class _HelperAnswer:
    credentials: Credentials | None
    received_at: float


class DockerCredentials:
    """The Docker config's credentials; helper answers (also "none") are kept per host for
    ``helper_ttl`` seconds."""

    def __init__(
        self,
        auths: dict[str, Credentials],
        helpers: dict[str, CredentialHelper | None],
        default_helper: CredentialHelper | None = None,
        *,
        helper_ttl: float = HELPER_ANSWER_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``helpers``: credHelpers by host (None: ``auths`` applies); ``default_helper``:
        credsStore, for the hosts ``helpers`` does not name."""
        self._auths = {normalize_host(host): creds for host, creds in auths.items()}
        self._helpers = {normalize_host(host): helper for host, helper in helpers.items()}
        self._default_helper = default_helper
        self._helper_ttl = helper_ttl
        self._clock = clock
        self._answers: dict[str, _HelperAnswer] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lookup(self, host: str) -> Credentials | None:
        key = normalize_host(host)
        helper = self._helpers.get(key, self._default_helper)
        if helper is None:
            return self._auths.get(key)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # one run per host, even when clients look up in parallel
            answer = self._answers.get(key)
            # a failed run raised and left the old answer, still stale: the next lookup retries
            if answer is None or self._clock() - answer.received_at >= self._helper_ttl:
                answer = _HelperAnswer(_from_helper(helper.get(_server_url(key))), self._clock())
                self._answers[key] = answer
            return answer.credentials

    @classmethod
    def read(
        cls,
        path: Path,
        *,
        helper_timeout: float,
        helper_ttl: float = HELPER_ANSWER_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> DockerCredentials:
        try:
            document: Any = json.loads(path.read_text())
        except FileNotFoundError:
            return cls({}, {})
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read Docker config {path}: {type(exc).__name__}",
                hint="fix the file or point TOLLGATE_DOCKER_CONFIG at another one",
            ) from None
        if not isinstance(document, dict):
            return cls({}, {})
        per_host = document.get("credHelpers") or {}
        if not isinstance(per_host, dict):
            raise ConfigurationError(
                f"credHelpers in Docker config {path} is not an object",
                hint='expected {"registry host": "helper suffix", ...}',
            )
        store = document.get("credsStore")
        return cls(
            _docker_auths(document.get("auths"), path),
            {
                host: _helper(name, f"credHelpers[{host!r}] in {path}", helper_timeout)
                for host, name in per_host.items()
            },
            None if store is None else _helper(store, f"credsStore in {path}", helper_timeout),
            helper_ttl=helper_ttl,
            clock=clock,
        )


def _helper(name: object, origin: str, timeout: float) -> CredentialHelper | None:
    if not isinstance(name, str) or "/" in name or "\\" in name:
        raise ConfigurationError(
            f"{origin} is not a credential helper name",
            hint="give the program's suffix, e.g. 'pass' for docker-credential-pass",
        )
    if not name:  # as in Docker: no helper, the auths entry applies
        return None
    return CredentialHelper(name, timeout=timeout, origin=origin)


def _server_url(host: str) -> str:
    """What Docker asks a helper for: Docker Hub's historical key, else host[:port]."""
    return _HUB_SERVER_URL if host == _HUB else host


def _from_helper(answer: HelperAnswer | None) -> Credentials | None:
    if answer is None:
        return None
    return Credentials(answer.username, answer.secret, identity_token=answer.is_identity_token)


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


def _docker_auths(auths: object, path: Path) -> dict[str, Credentials]:
    entries: dict[str, Credentials] = {}
    for host, value in (auths if isinstance(auths, dict) else {}).items():
        creds = _docker_entry(value) if isinstance(value, dict) else None
        if creds is None:
            logger.debug("no usable credentials for %s in %s", host, path)
            continue
        entries[host] = creds
    return entries


def _docker_entry(value: dict[str, Any]) -> Credentials | None:
    token = value.get("identitytoken")
    if isinstance(token, str) and token:
        return Credentials(IDENTITY_TOKEN_USERNAME, token, identity_token=True)
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
