"""Registry credentials one scan request carried (Harbor's ``registry.authorization``).

They are used for that scan only and kept in memory: never written to the database,
logged or put on a command line. In embedded mode the executor holds them for the
life of the job; through a broker they travel sealed (:class:`PullAuthSealer`: Fernet
with a key derived from TOLLGATE_WEBHOOK_SECRET) and expire after ``ttl_seconds``.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.errors import ConfigurationError, InvalidReferenceError, RegistryAuthError
from service.registry.credentials import Credentials, CredentialStore, normalize_host
from service.registry.factory import RegistryClientFactory
from service.registry.outbound import OutboundPolicy
from service.settings import Settings

AUTH_FORMAT_HINT = (
    "send registry.authorization as 'Basic <base64 user:password>' or 'Bearer <token>'"
)
DEFAULT_TTL_SECONDS = 900
_KDF_INFO = b"tollgate pull authorization v1"


@dataclass(frozen=True)
class PullAuthorization:
    """Basic credentials or a bearer token for one registry host."""

    host: str
    credentials: Credentials | None = None
    token: str | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, registry_url: str, authorization: str) -> PullAuthorization:
        """``Basic base64(user:pass)`` or ``Bearer <token>`` for the host of ``registry_url``."""
        host = normalize_host(urlsplit(registry_url).netloc or registry_url)
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer" and value:
            return cls(host, token=value)
        if scheme.lower() == "basic" and value:
            try:
                username, sep, password = (
                    base64.b64decode(value, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            if sep:
                return cls(host, credentials=Credentials(username, password))
        # never quote the header: it is a secret
        raise InvalidReferenceError(
            f"registry.authorization for {host} is not usable", hint=AUTH_FORMAT_HINT
        )

    def registries(self, settings: Settings, outbound: OutboundPolicy) -> RegistryClientFactory:
        """Clients using these credentials for :attr:`host`, the configured ones elsewhere,
        reaching what ``outbound`` allows."""
        store = CredentialStore.from_settings(settings)
        if self.credentials is not None:
            store = store.with_entry(self.host, self.credentials)
        transport = (
            BearerTransport(self.host, self.token, outbound.transport()) if self.token else None
        )
        return RegistryClientFactory(settings, store, outbound=outbound, transport=transport)


class BearerTransport(httpx.BaseTransport):
    """Sends a caller's registry token to its host when no other authorization is set."""

    def __init__(self, host: str, token: str, inner: httpx.BaseTransport | None = None) -> None:
        self._host = host
        self._token = token
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if (
            normalize_host(request.url.netloc.decode()) == self._host
            and "authorization" not in request.headers
        ):
            request.headers["Authorization"] = f"Bearer {self._token}"
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


class PullAuthSealer:
    """Encrypts a :class:`PullAuthorization` for the broker; opening it checks its age."""

    def __init__(self, secret: str, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO).derive(
            secret.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._ttl = ttl_seconds

    @classmethod
    def from_settings(cls, settings: Settings) -> PullAuthSealer | None:
        if settings.webhook_secret is None:
            return None
        return cls(settings.webhook_secret.get_secret_value())

    def seal(self, auth: PullAuthorization, now: int | None = None) -> str:
        document = {
            "host": auth.host,
            "username": auth.credentials.username if auth.credentials else None,
            "password": auth.credentials.password if auth.credentials else None,
            "token": auth.token,
        }
        data = json.dumps(document).encode()
        return self._fernet.encrypt_at_time(data, _now(now)).decode()

    def unseal(self, sealed: str, now: int | None = None) -> PullAuthorization:
        try:
            data = self._fernet.decrypt_at_time(sealed.encode(), self._ttl, _now(now))
        except InvalidToken:
            raise RegistryAuthError(
                "the registry credentials sent with this scan expired or cannot be opened",
                hint="request the scan again (and check that the API and workers share "
                "TOLLGATE_WEBHOOK_SECRET)",
            ) from None
        document = json.loads(data)
        credentials = (
            Credentials(document["username"], document["password"])
            if document["username"] is not None
            else None
        )
        return PullAuthorization(document["host"], credentials=credentials, token=document["token"])


def require_sealer(sealer: PullAuthSealer | None) -> PullAuthSealer:
    if sealer is None:
        raise ConfigurationError(
            "cannot pass registry credentials to workers: TOLLGATE_WEBHOOK_SECRET is not set",
            hint="set TOLLGATE_WEBHOOK_SECRET (the same value) for the API and the workers",
        )
    return sealer


def _now(now: int | None) -> int:
    return int(time.time()) if now is None else now
