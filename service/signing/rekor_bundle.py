"""The Rekor "bundle" annotation of cosign 2 keyless layers, and what its log entry records.

The annotation carries a transparency-log entry (body, integrated time, index, log id)
and the log's Signed Entry Timestamp over them; it is untrusted until the SET verifies
(:func:`keyless_layer.verify_set`).  The entry body must then record exactly the layer:
a ``rekord``/``hashedrekord`` entry the signature, certificate and payload hash of a
``.sig`` layer; an ``intoto`` entry (v0.0.1 or v0.0.2) the hash of an ``.att`` layer's
DSSE envelope and its certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from service.errors import VerificationError
from service.signing import ecdsa

_REKOR_KINDS = ("rekord", "hashedrekord")
_ATTESTATION_KIND = "intoto"


@dataclass(frozen=True)
class RekorBundle:
    """The ``dev.sigstore.cosign/bundle`` annotation (untrusted until the SET verifies)."""

    signed_entry_timestamp: str
    body: str
    integrated_time: int
    log_index: int
    log_id: str

    @property
    def integrated_at(self) -> datetime:
        return datetime.fromtimestamp(self.integrated_time, UTC)

    def to_json_object(self) -> dict[str, Any]:
        """As cosign prints it in ``optional.Bundle`` (Go field order)."""
        return {
            "SignedEntryTimestamp": self.signed_entry_timestamp,
            "Payload": {
                "body": self.body,
                "integratedTime": self.integrated_time,
                "logIndex": self.log_index,
                "logID": self.log_id,
            },
        }


def _int(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise VerificationError(f"the Rekor bundle's {what} is not a non-negative integer")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise VerificationError(f"the Rekor bundle has no {what}")
    return value


def parse_rekor_bundle(raw: str) -> RekorBundle:
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise VerificationError("the Rekor bundle annotation is not JSON") from exc
    payload = document.get("Payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise VerificationError("the Rekor bundle annotation has no Payload object")
    return RekorBundle(
        _str(document.get("SignedEntryTimestamp"), "SignedEntryTimestamp"),
        _str(payload.get("body"), "body"),
        _int(payload.get("integratedTime"), "integratedTime"),
        _int(payload.get("logIndex"), "logIndex"),
        _str(payload.get("logID"), "logID"),
    )


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"the Rekor entry has no {what}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise VerificationError(f"the Rekor entry's {what} is not base64") from exc


def _entry_body(bundle: RekorBundle) -> dict[str, Any]:
    try:
        body = json.loads(_b64(bundle.body, "body"))
    except ValueError as exc:
        raise VerificationError("the Rekor entry body is not JSON") from exc
    if not isinstance(body, dict):
        raise VerificationError("the Rekor entry body is not a JSON object")
    return body


def _check_logged_hash(data_hash: object, payload: bytes) -> None:
    if not isinstance(data_hash, dict) or (
        data_hash.get("algorithm") != "sha256"
        or data_hash.get("value") != hashlib.sha256(payload).hexdigest()
    ):
        raise VerificationError("the Rekor entry records another payload than the signed one")


def _logged_certificate(public_key: object) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(_b64(public_key, "certificate"))
    except ValueError as exc:
        raise VerificationError("the Rekor entry's certificate is not a PEM certificate") from exc


def check_entry_binds(
    bundle: RekorBundle, signature_b64: str, leaf: x509.Certificate, payload: bytes
) -> None:
    """The logged entry must be this signature, this certificate and this payload's hash."""
    body = _entry_body(bundle)
    try:
        spec = body["spec"]
        kind, data_hash, signature = body["kind"], spec["data"]["hash"], spec["signature"]
        public_key = signature["publicKey"]["content"]
    except (KeyError, TypeError) as exc:
        raise VerificationError("the Rekor entry body is not a rekord/hashedrekord entry") from exc
    if kind not in _REKOR_KINDS:
        raise VerificationError(f"the Rekor entry kind {kind!r} is not a signature entry")
    _check_logged_hash(data_hash, payload)
    if _b64(signature.get("content"), "signature") != ecdsa.decode_signature(signature_b64):
        raise VerificationError("the Rekor entry records another signature than the layer's")
    if _logged_certificate(public_key) != leaf:
        raise VerificationError("the Rekor entry records another certificate than the layer's")


def check_intoto_entry_binds(bundle: RekorBundle, leaf: x509.Certificate, envelope: bytes) -> None:
    """The logged ``intoto`` entry (v0.0.1 or v0.0.2) must record this DSSE envelope's hash
    and this certificate; the hash covers the envelope's signatures."""
    body = _entry_body(bundle)
    try:
        spec = body["spec"]
        kind, data_hash = body["kind"], spec["content"]["hash"]
        if body.get("apiVersion") == "0.0.1":
            public_keys = [spec["publicKey"]]
        else:
            public_keys = [item["publicKey"] for item in spec["content"]["envelope"]["signatures"]]
    except (KeyError, TypeError) as exc:
        raise VerificationError("the Rekor entry body is not an intoto entry") from exc
    if kind != _ATTESTATION_KIND:
        raise VerificationError(f"the Rekor entry kind {kind!r} is not an attestation entry")
    _check_logged_hash(data_hash, envelope)
    if leaf not in [_logged_certificate(key) for key in public_keys]:
        raise VerificationError("the Rekor entry records another certificate than the layer's")
