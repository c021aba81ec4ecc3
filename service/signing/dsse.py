"""DSSE envelopes (https://github.com/secure-systems-lab/dsse) as cosign writes them."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import VerificationError
from service.signing import ecdsa
from service.signing.payload import go_json

IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
_MAX_SIGNATURES = 16


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[str, ...]  # base64 DER signatures

    def to_json(self) -> bytes:
        """``{"payloadType","payload","signatures":[{"keyid":"","sig"}]}`` (cosign's order)."""
        return go_json(
            {
                "payloadType": self.payload_type,
                "payload": base64.b64encode(self.payload).decode(),
                "signatures": [{"keyid": "", "sig": sig} for sig in self.signatures],
            }
        )

    def verify(self, key: ec.EllipticCurvePublicKey) -> None:
        """Succeed when any signature verifies over the PAE with ``key``."""
        message = pae(self.payload_type, self.payload)
        failures: list[str] = []
        for signature in self.signatures:
            try:
                ecdsa.verify(key, message, signature)
            except VerificationError as exc:
                failures.append(exc.message)
            else:
                return
        raise VerificationError(
            "no DSSE signature verifies with the given public key"
            + (f": {'; '.join(failures)}" if failures else ": the envelope has no signatures")
        )


def sign_envelope(key: ec.EllipticCurvePrivateKey, payload: bytes) -> Envelope:
    signature = ecdsa.sign(key, pae(IN_TOTO_PAYLOAD_TYPE, payload))
    return Envelope(IN_TOTO_PAYLOAD_TYPE, payload, (signature,))


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"the DSSE envelope's {what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"the DSSE envelope's {what} is not valid base64") from exc


def parse_envelope(data: bytes) -> Envelope:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise VerificationError("the DSSE envelope is not JSON") from exc
    if not isinstance(document, dict):
        raise VerificationError("the DSSE envelope is not a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str):
        raise VerificationError("the DSSE envelope has no payloadType")
    raw_signatures = document.get("signatures")
    if not isinstance(raw_signatures, list) or len(raw_signatures) > _MAX_SIGNATURES:
        raise VerificationError(
            f"the DSSE envelope must hold a list of at most {_MAX_SIGNATURES} signatures"
        )
    signatures: list[str] = []
    for entry in raw_signatures:
        sig = entry.get("sig") if isinstance(entry, dict) else None
        if not isinstance(sig, str):
            raise VerificationError("a DSSE signature entry has no 'sig' string")
        signatures.append(sig)
    return Envelope(payload_type, _b64(document.get("payload"), "payload"), tuple(signatures))
