"""``X-Tollgate-Signature: sha256=<hex>``: HMAC-SHA256 of the exact request body."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "X-Tollgate-Signature"


def sign(body: bytes, secret: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: bytes, signature: str) -> bool:
    """Constant-time check of a received signature (for receivers and tests)."""
    return hmac.compare_digest(sign(body, secret), signature)
