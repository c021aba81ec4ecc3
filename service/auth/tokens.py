"""Bearer API tokens with scopes, and the webhook shared secret.

Tokens are 32 random bytes (URL-safe base64) prefixed ``tg_``; only their SHA-256
is stored, and hashes are compared in constant time. ``admin`` grants every scope.

A verified token is remembered (by its hash, never the secret) for ``cache_ttl`` seconds
(5 by default, never past its expiry), so busy callers such as the admission webhook cost
no database read per request: revoking a token takes effect within that TTL. Each
verification from the database records the token's last use (so to within the TTL).

Tokens may expire: ``tollgate token create --expires-in`` (default: 90 days in production,
never in development).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from service.errors import AuthError, StoreUnavailableError
from service.secret import Secret
from service.settings import Settings
from service.store.tokens import TokenInfo, TokenStore

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "tg_"  # noqa: S105  (a prefix, not a secret)
TOKEN_CACHE_TTL_S = 5.0
# A webhook delivery may authenticate by its body's HMAC instead of a bearer secret.
SIGNATURE_HEADER = "X-Hub-Signature-256"
_TOKEN_CACHE_SIZE = 1024
PRODUCTION_TOKEN_LIFETIME = timedelta(days=90)


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


@dataclass(frozen=True)
class IssuedToken:
    """A new token: its id (to list or revoke it) and its secret, seen only now."""

    id: int
    secret: str = field(repr=False)


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


def default_lifetime(settings: Settings) -> timedelta | None:
    """How long a new token lives unless its creator says: 90 days in production."""
    return PRODUCTION_TOKEN_LIFETIME if settings.environment == "production" else None


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_lifetime(text: str) -> timedelta | None:
    """``90d``, ``12h``, ``30m``, ``45s`` -> that long; ``never`` -> None."""
    text = text.strip().lower()
    if text == "never":
        return None
    number, unit = text[:-1], text[-1:]
    if unit not in _DURATION_UNITS or not number.isdigit() or int(number) == 0:
        raise AuthError(
            f"{text!r} is not a token lifetime",
            hint="use a positive number with s, m, h or d (e.g. 90d), or never",
        )
    return timedelta(seconds=int(number) * _DURATION_UNITS[unit])


class TokenAuthority:
    """Issues tokens and turns a presented bearer secret into a :class:`Principal`."""

    def __init__(
        self,
        store: TokenStore,
        webhook_secret: Secret | None,
        *,
        cache_ttl: float = TOKEN_CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._webhook_secret = webhook_secret
        self._cache_ttl = cache_ttl
        self._clock = clock
        self._now = now
        self._verified: dict[str, tuple[Principal, float]] = {}  # token hash -> (who, until)
        self._lock = threading.Lock()

    def issue(
        self, scopes: frozenset[Scope], name: str = "cli", lifetime: timedelta | None = None
    ) -> IssuedToken:
        """A new token (the only time its secret is seen); it expires after ``lifetime``."""
        if not scopes:
            raise AuthError("a token needs at least one scope", hint="pass --scope read")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires_at = None if lifetime is None else self._now() + lifetime
        token_id = self._store.add(
            hash_token(token), frozenset(s.value for s in scopes), name, expires_at
        )
        return IssuedToken(token_id, token)

    def tokens(self) -> list[TokenInfo]:
        return self._store.list()

    def revoke(self, token_id: int) -> bool:
        """Revokes a token at once in this process (other processes: within the cache TTL);
        False when there is none with this id."""
        with self._lock:
            self._verified.clear()
        return self._store.revoke(token_id)

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

    def authenticate_signed(self, body: bytes, signature: str) -> Principal:
        """A webhook delivery signed with the webhook secret: ``signature`` is
        ``sha256=<hex HMAC-SHA256 of the body>`` (the :data:`SIGNATURE_HEADER` of GitHub,
        Gitea and the relays that sign as they do)."""
        secret = self._webhook_secret
        if secret is None:
            raise AuthError(
                "signed webhook deliveries need a webhook secret",
                hint="set TOLLGATE_WEBHOOK_SECRET to the secret the sender signs with",
            )
        expected = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256)
        if not hmac.compare_digest(
            signature.strip().encode(), f"sha256={expected.hexdigest()}".encode()
        ):
            raise AuthError(
                "the webhook delivery's signature does not match its body",
                hint=f"sign the body with HMAC-SHA256 and TOLLGATE_WEBHOOK_SECRET, sent as "
                f"'{SIGNATURE_HEADER}: sha256=<hex>'",
            )
        return Principal("webhook-signature", frozenset({Scope.WEBHOOK}))

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
        now = self._now()
        ttl = self._cache_ttl
        if stored.expires_at is not None:
            if stored.expires_at <= now:
                raise AuthError(
                    f"API token {stored.id} ({stored.name}) expired at "
                    f"{stored.expires_at:%Y-%m-%d %H:%M} UTC",
                    hint="create a new one with `tollgate token create`",
                )
            ttl = min(ttl, (stored.expires_at - now).total_seconds())
        self._record_use(stored.id, now)
        principal = Principal(stored.name, frozenset(Scope(s) for s in stored.scopes))
        with self._lock:
            if len(self._verified) >= _TOKEN_CACHE_SIZE:
                self._verified.clear()
            self._verified[stored.token_hash] = (principal, self._clock() + ttl)
        return principal

    def _record_use(self, token_id: int, when: datetime) -> None:
        """Best effort: a database too busy to record the last use does not refuse the
        caller (the token itself was read and verified)."""
        try:
            self._store.touch(token_id, when)
        except StoreUnavailableError as error:
            logger.warning("could not record the use of API token %d: %s", token_id, error)

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
