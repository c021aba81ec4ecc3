"""Bearer API tokens with scopes, and the webhook shared secret.

Tokens are 32 random bytes (URL-safe base64) prefixed ``tg_``; only their SHA-256
is stored, and hashes are compared in constant time. ``admin`` grants every scope.

A verified token is remembered (by its hash, never the secret) for ``cache_ttl`` seconds
(5 by default), so busy callers such as the admission webhook cost no database read per
request: revoking a token takes effect within that TTL.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from service.errors import AuthError
from service.secret import Secret
from service.store.tokens import TokenStore

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "tg_"  # noqa: S105  (a prefix, not a secret)
TOKEN_CACHE_TTL_S = 5.0
_TOKEN_CACHE_SIZE = 1024


class Scope(StrEnum):
    READ = "read"
    SCAN = "scan"
    ADMIN = "admin"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN in self.scopes or scope in self.scopes


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_scopes(text: str) -> frozenset[Scope]:
    names = [part for part in text.replace(",", " ").split() if part]
    try:
        return frozenset(Scope(name) for name in names)
    except ValueError:
        raise AuthError(
            f"unknown scope in {text!r}", hint=f"use {', '.join(s.value for s in Scope)}"
        ) from None


class TokenAuthority:
    """Issues tokens and turns a presented bearer secret into a :class:`Principal`."""

    def __init__(
        self,
        store: TokenStore,
        webhook_secret: Secret | None,
        *,
        cache_ttl: float = TOKEN_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._webhook_secret = webhook_secret
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._verified: dict[str, tuple[Principal, float]] = {}  # token hash -> (who, until)
        self._lock = threading.Lock()

    def issue(self, scopes: frozenset[Scope], name: str = "cli") -> str:
        if not scopes:
            raise AuthError("a token needs at least one scope", hint="pass --scope read")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        self._store.add(hash_token(token), frozenset(s.value for s in scopes), name)
        return token

    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise AuthError(
                "missing bearer token",
                hint="send 'Authorization: Bearer <token>'; "
                "create one with `tollgate token create --scope SCOPE`",
            )
        if self._is_webhook_secret(presented):
            return Principal("webhook-secret", frozenset({Scope.WEBHOOK}))
        return self.authenticate_digest(hash_token(presented))

    def authenticate_digest(self, digest: str) -> Principal:
        """The holder of the token whose SHA-256 is ``digest`` (what a console session
        keeps instead of the token), checked against the store like :meth:`authenticate`."""
        cached = self._cached(digest)
        if cached is not None:
            return cached
        stored = self._store.find(digest)
        if stored is None or not hmac.compare_digest(stored.token_hash, digest):
            raise AuthError(
                "invalid or revoked API token",
                hint="create one with `tollgate token create --scope SCOPE`",
            )
        principal = Principal(stored.name, frozenset(Scope(s) for s in stored.scopes))
        with self._lock:
            if len(self._verified) >= _TOKEN_CACHE_SIZE:
                self._verified.clear()
            self._verified[stored.token_hash] = (principal, self._clock() + self._cache_ttl)
        return principal

    def verified_recently(self, presented: str | None) -> bool:
        """Whether :meth:`authenticate` can answer for ``presented`` without the database."""
        return (
            not presented
            or self._is_webhook_secret(presented)
            or self._cached(hash_token(presented)) is not None
        )

    def _is_webhook_secret(self, presented: str) -> bool:
        secret = self._webhook_secret
        return secret is not None and hmac.compare_digest(
            presented.encode(), secret.get_secret_value().encode()
        )

    def _cached(self, digest: str) -> Principal | None:
        """The principal verified for this token hash within the TTL (the lookup is by
        SHA-256 of the secret, like the database index, so it reveals nothing of it)."""
        with self._lock:
            entry = self._verified.get(digest)
        if entry is None or entry[1] <= self._clock():
            return None
        return entry[0]
