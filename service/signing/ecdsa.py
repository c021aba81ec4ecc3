"""ECDSA P-256 / SHA-256 signatures as cosign encodes them (ASN.1 DER, standard base64)."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from service.errors import VerificationError

_MAX_SIGNATURE_B64 = 1024


def sign(key: ec.EllipticCurvePrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, ec.ECDSA(hashes.SHA256()))).decode()


def decode_signature(signature_b64: str) -> bytes:
    """The DER bytes of a base64 signature; VerificationError when it is not base64."""
    if len(signature_b64) > _MAX_SIGNATURE_B64:
        raise VerificationError("the signature is too long to be an ECDSA P-256 signature")
    try:
        return base64.b64decode("".join(signature_b64.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError("the signature is not valid base64 (truncated?)") from exc


def verify(
    key: ec.EllipticCurvePublicKey, message: bytes, signature_b64: str, *, prehashed: bool = False
) -> None:
    """Raise VerificationError unless ``signature_b64`` is ``key``'s signature of ``message``.

    With ``prehashed`` the message is already its SHA-256 digest (Sigstore bundles).
    """
    der = decode_signature(signature_b64)
    algorithm = utils.Prehashed(hashes.SHA256()) if prehashed else hashes.SHA256()
    try:
        key.verify(der, message, ec.ECDSA(algorithm))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError("the signature does not verify with the given public key") from exc
