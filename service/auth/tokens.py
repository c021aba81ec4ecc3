"""Bearer API tokens with scopes, and the webhook shared secret.

Tokens are 32 random bytes (URL-safe base64) prefixed ``tg_``; only their SHA-256
is stored, and hashes are compared in constant time. ``admin`` grants every scope.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from service.errors import AuthError
from service.store.tokens import TokenStore

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "tg_"  # noqa: S105  (a prefix, not a secret)


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

    def __init__(self, store: TokenStore, webhook_secret: SecretStr | None) -> None:
        self._store = store
        self._webhook_secret = webhook_secret

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
        if self._webhook_secret is not None and hmac.compare_digest(
            presented.encode(), self._webhook_secret.get_secret_value().encode()
        ):
            return Principal("webhook-secret", frozenset({Scope.WEBHOOK}))
        digest = hash_token(presented)
        stored = self._store.find(digest)
        if stored is None or not hmac.compare_digest(stored.token_hash, digest):
            raise AuthError(
                "invalid or revoked API token",
                hint="create one with `tollgate token create --scope SCOPE`",
            )
        return Principal(stored.name, frozenset(Scope(s) for s in stored.scopes))
