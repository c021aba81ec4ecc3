"""Console sessions: a signed, expiring cookie naming a token by its hash, and CSRF tokens.

The cookie holds ``base64url(json{"t": SHA-256 of the API token, "e": expiry, "n": nonce})``
and an HMAC-SHA256 of it; never the token itself. Every request checks the token again
(``TokenAuthority.authenticate_digest``), so revoking the token ends its sessions. The
signing key is derived (HKDF) from ``TOLLGATE_WEBHOOK_SECRET`` when set, so every replica
of the API accepts the same sessions; without it each process draws a random key and a
restart signs everyone out. CSRF tokens are an HMAC of the session cookie (state-changing
forms of a signed-in user) or of a random pre-session cookie (the sign-in form).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.secret import Secret

SESSION_COOKIE = "tollgate_session"
SIGNIN_COOKIE = "tollgate_signin"  # the pre-session CSRF cookie of the sign-in form
DEFAULT_TTL_SECONDS = 8 * 3600
_KDF_INFO = b"tollgate console session v1"


def session_key(secret: Secret | None) -> bytes:
    """The HMAC key of console cookies: derived from ``secret``, else random per process."""
    if secret is None:
        return secrets.token_bytes(32)
    kdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KDF_INFO)
    return kdf.derive(secret.get_secret_value().encode())


@dataclass(frozen=True)
class SessionClaims:
    token_hash: str
    expires: int  # Unix time


class SessionSigner:
    def __init__(
        self,
        key: bytes,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, token_hash: str) -> str:
        """A cookie value for the holder of the token hashed as ``token_hash``."""
        claims = {
            "t": token_hash,
            "e": int(self._clock()) + self.ttl_seconds,
            "n": secrets.token_urlsafe(12),
        }
        body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode())
        body = body.rstrip(b"=")  # a cookie value without characters that need quoting
        return f"{body.decode()}.{self._mac(b'session', body)}"

    def read(self, cookie: str | None) -> SessionClaims | None:
        """The claims of a genuine, unexpired cookie; None for anything else."""
        if not cookie or "." not in cookie:
            return None
        body, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(b"session", body.encode())):
            return None
        try:
            claims = json.loads(base64.urlsafe_b64decode(body.encode() + b"=" * (-len(body) % 4)))
            token_hash, expires = str(claims["t"]), int(claims["e"])
        except (binascii.Error, ValueError, KeyError, TypeError):
            return None
        if expires <= self._clock():
            return None
        return SessionClaims(token_hash, expires)

    def csrf_token(self, cookie: str) -> str:
        """The CSRF token bound to ``cookie`` (a session or a sign-in cookie)."""
        return self._mac(b"csrf", cookie.encode())

    def csrf_valid(self, cookie: str | None, presented: str | None) -> bool:
        if not cookie or not presented:
            return False
        return hmac.compare_digest(presented, self.csrf_token(cookie))

    def _mac(self, purpose: bytes, data: bytes) -> str:
        return hmac.new(self._key, purpose + b":" + data, hashlib.sha256).hexdigest()
