"""The service's own signing key: a cosign-encrypted key file plus a password from the
environment (``TOLLGATE_SIGNING_KEY`` / ``TOLLGATE_SIGNING_KEY_PASSWORD``).

The key stays encrypted at rest; it is decrypted in memory only.  Neither the password
nor key material is ever logged or put in an error message: only the path and the
public key's fingerprint are.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import ConfigurationError, SigningError
from service.settings import Settings
from service.signing.keys import load_private_key

logger = logging.getLogger(__name__)


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    """``sha256:<hex>`` of the PKIX DER public key: a stable id for policies and logs."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class SigningKey:
    """A decrypted signing key and its public fingerprint (the key never appears in repr)."""

    key_id: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)

    @property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self.private_key.public_key()


def load_signing_key(settings: Settings) -> SigningKey:
    """Decrypt the configured key; ConfigurationError when it is not configured or unreadable,
    SigningError when the password is wrong or the file is not a cosign key."""
    path = settings.signing_key
    if path is None:
        raise ConfigurationError(
            "no signing key configured",
            hint="set TOLLGATE_SIGNING_KEY to an encrypted cosign.key (tollgate key generate)",
        )
    if settings.signing_key_password is None:
        raise ConfigurationError(
            f"no password for the signing key {path}",
            hint="set TOLLGATE_SIGNING_KEY_PASSWORD (empty for a key without password)",
        )
    logger.debug("loading the signing key from %s", path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the signing key {path}: {exc.strerror}",
            hint="check TOLLGATE_SIGNING_KEY and the file's permissions",
        ) from exc
    password = settings.signing_key_password.get_secret_value().encode()
    try:
        private_key = load_private_key(data, password)
    except SigningError as exc:
        raise SigningError(
            f"cannot use the signing key {path}: {exc.message}",
            hint="check TOLLGATE_SIGNING_KEY_PASSWORD and that the file is an encrypted cosign.key",
        ) from exc
    key_id = fingerprint(private_key.public_key())
    logger.info("signing key %s loaded from %s", key_id, path)
    return SigningKey(key_id=key_id, private_key=private_key)
