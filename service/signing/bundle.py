"""Sigstore bundles stored by cosign 3 as OCI 1.1 referrers, verified by key or keyless.

Bundles are parsed with ``sigstore-models``; key-signed bundles (DSSE or message
signature) are checked here with the given key; keyless ones in :mod:`keyless`.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import sigstore_models.bundle.v1 as bundle_v1
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from sigstore_models import intoto

from service.errors import ImageError, TollgateError, VerificationError
from service.registry.interface import Registry
from service.signing import ecdsa
from service.signing.cosign_layout import Limits, parse_layers
from service.signing.dsse import Envelope
from service.signing.payload import Statement, parse_statement

logger = logging.getLogger(__name__)

BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"


@dataclass(frozen=True)
class VerifiedBundle:
    statement: Statement | None  # DSSE bundles
    message_digest: str | None  # message-signature bundles: "sha256:<hex>"


def fetch_bundles(
    registry: Registry, repository: str, image_digest: str, limits: Limits
) -> tuple[list[bytes], list[str]]:
    """The bundle documents referring to ``image_digest`` and why others could not be read.

    Referrers come from the Referrers API or the ``sha256-<hex>`` fallback index; more
    than ``limits.max_layers`` of them, or an unreadable index, is a VerificationError.
    """
    try:
        referrers = registry.get_referrers(
            repository, image_digest, artifact_type=BUNDLE_MEDIA_TYPE
        )
    except ImageError as exc:
        raise VerificationError(f"cannot list the bundles of {image_digest}: {exc}") from exc
    if len(referrers) > limits.max_layers:
        raise VerificationError(
            f"{len(referrers)} bundles refer to {image_digest}, over the limit of "
            f"{limits.max_layers}; refusing to verify them"
        )
    bundles: list[bytes] = []
    failures: list[str] = []
    for referrer in referrers:
        digest = referrer.get("digest")
        if not isinstance(digest, str):
            failures.append("bundle: a referrer descriptor has no digest")
            continue
        try:
            bundles.extend(_bundle_layers(registry, repository, digest, limits))
        except TollgateError as exc:
            failures.append(f"bundle {digest}: {exc}")
    return bundles, failures


def _bundle_layers(
    registry: Registry, repository: str, manifest_digest: str, limits: Limits
) -> list[bytes]:
    manifest = registry.get_manifest(repository, manifest_digest)
    return [
        registry.get_blob(repository, layer.digest, max_size=limits.max_payload_bytes)
        for layer in parse_layers(manifest.content, limits)
        if layer.media_type == BUNDLE_MEDIA_TYPE
    ]


def parse_bundle(raw: bytes) -> bundle_v1.Bundle:
    try:
        return bundle_v1.Bundle.model_validate_json(raw)
    except (ValidationError, ValueError) as exc:
        raise VerificationError("the Sigstore bundle is malformed") from exc


def check_subject(statement: Statement, image_digest: str) -> Statement:
    if image_digest not in statement.subject_digests:
        raise VerificationError(
            f"the bundle's statement is about {', '.join(statement.subject_digests) or 'nothing'}, "
            f"not {image_digest}",
            hint="the signature belongs to another image",
        )
    return statement


def _envelope(model: intoto.Envelope) -> Envelope:
    signatures = tuple(base64.b64encode(sig.sig).decode() for sig in model.signatures)
    return Envelope(model.payload_type, model.payload, signatures)


def verify_bundle_with_key(
    raw: bytes, key: ec.EllipticCurvePublicKey, image_digest: str
) -> VerifiedBundle:
    """Verify a key-signed bundle (no certificate) over ``image_digest``."""
    bundle = parse_bundle(raw)
    if bundle.dsse_envelope is not None:
        envelope = _envelope(bundle.dsse_envelope)
        envelope.verify(key)
        return VerifiedBundle(check_subject(parse_statement(envelope.payload), image_digest), None)
    if bundle.message_signature is None:
        raise VerificationError("the Sigstore bundle holds neither a DSSE envelope nor a signature")
    digest = bundle.message_signature.message_digest
    if digest is None:
        raise VerificationError("the bundle's message signature has no digest")
    signed = f"sha256:{digest.digest.hex()}"
    if signed != image_digest:
        raise VerificationError(f"the bundle signs {signed}, not {image_digest}")
    ecdsa.verify(
        key,
        digest.digest,
        base64.b64encode(bundle.message_signature.signature).decode(),
        prehashed=True,
    )
    return VerifiedBundle(None, signed)


def verify_any(
    raws: list[bytes], verify_one: Callable[[bytes], VerifiedBundle]
) -> tuple[list[VerifiedBundle], list[str]]:
    """Verify every bundle with ``verify_one``; the verified ones and why the others failed."""
    verified: list[VerifiedBundle] = []
    failures: list[str] = []
    for raw in raws:
        try:
            verified.append(verify_one(raw))
        except TollgateError as exc:
            failures.append(f"bundle: {exc}")
    return verified, failures


def is_image_signature(verified: VerifiedBundle) -> bool:
    """Cosign 3 signs images as a message signature or a ``cosign/sign/v1`` statement."""
    if verified.statement is None:
        return True
    return verified.statement.predicate_type == COSIGN_SIGN_PREDICATE_TYPE


def statement_json(verified: VerifiedBundle) -> dict[str, Any]:
    if verified.statement is not None:
        return verified.statement.document
    return {"messageDigest": verified.message_digest}
