"""Sigstore bundles stored by cosign 3 as OCI 1.1 referrers, verified by key or keyless.

Bundles are parsed with ``sigstore-models``; key-signed bundles (DSSE or message
signature) are checked here with the given key, keyless ones with sigstore-python's
verifier against a configured trusted root and an expected identity.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sigstore_models.bundle.v1 as bundle_v1
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError
from sigstore_models import intoto

from service.errors import TollgateError, VerificationError
from service.registry.interface import Registry
from service.signing import ecdsa
from service.signing.cosign_layout import Limits, parse_layers
from service.signing.dsse import Envelope
from service.signing.payload import Statement, parse_statement

logger = logging.getLogger(__name__)

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
COSIGN_SIGN_PREDICATE_TYPE = "https://sigstore.dev/cosign/sign/v1"


@dataclass(frozen=True)
class KeylessPolicy:
    """Who must have signed: a trusted root (Fulcio/Rekor/TSA) and the certificate identity."""

    trusted_root: Path
    identity: str
    issuer: str


@dataclass(frozen=True)
class VerifiedBundle:
    statement: Statement | None  # DSSE bundles
    message_digest: str | None  # message-signature bundles: "sha256:<hex>"


def fetch_bundles(
    registry: Registry, repository: str, image_digest: str, limits: Limits
) -> list[bytes]:
    """The raw bundle documents referring to ``image_digest`` (Referrers API or fallback tag)."""
    referrers = registry.get_referrers(repository, image_digest, artifact_type=BUNDLE_MEDIA_TYPE)
    if len(referrers) > limits.max_layers:
        raise VerificationError(
            f"{len(referrers)} bundles refer to {image_digest}, over the limit of "
            f"{limits.max_layers}; refusing to verify them"
        )
    bundles: list[bytes] = []
    for referrer in referrers:
        digest = referrer.get("digest")
        if not isinstance(digest, str):
            continue
        manifest = registry.get_manifest(repository, digest)
        for layer in parse_layers(manifest.content, limits):
            if layer.media_type == BUNDLE_MEDIA_TYPE:
                bundles.append(
                    registry.get_blob(repository, layer.digest, max_size=limits.max_payload_bytes)
                )
    return bundles


def _parse(raw: bytes) -> bundle_v1.Bundle:
    try:
        return bundle_v1.Bundle.model_validate_json(raw)
    except (ValidationError, ValueError) as exc:
        raise VerificationError("the Sigstore bundle is malformed") from exc


def _check_subject(statement: Statement, image_digest: str) -> Statement:
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
    bundle = _parse(raw)
    if bundle.dsse_envelope is not None:
        envelope = _envelope(bundle.dsse_envelope)
        envelope.verify(key)
        return VerifiedBundle(_check_subject(parse_statement(envelope.payload), image_digest), None)
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


def verify_bundle_keyless(raw: bytes, policy: KeylessPolicy, image_digest: str) -> VerifiedBundle:
    """Verify a Fulcio-certificate bundle: chain, transparency log, identity, then subject."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.models import Bundle, TrustedRoot
    from sigstore.verify import Verifier
    from sigstore.verify.policy import Identity

    try:
        bundle = Bundle.from_json(raw)
        verifier = Verifier(trusted_root=TrustedRoot.from_file(str(policy.trusted_root)))
        identity = Identity(identity=policy.identity, issuer=policy.issuer)
        payload_type, payload = verifier.verify_dsse(bundle, identity)
    except SigstoreError as exc:
        raise VerificationError(f"keyless verification failed: {exc}") from exc
    except (ValueError, TypeError) as exc:
        raise VerificationError(f"the keyless bundle could not be read: {exc}") from exc
    logger.info("keyless bundle verified for %s (%s)", policy.identity, payload_type)
    return VerifiedBundle(_check_subject(parse_statement(payload), image_digest), None)


def verify_any(
    raws: list[bytes], image_digest: str, key: ec.EllipticCurvePublicKey
) -> tuple[list[VerifiedBundle], list[str]]:
    """Key-verify every bundle; the verified ones and the reasons the others failed."""
    verified: list[VerifiedBundle] = []
    failures: list[str] = []
    for raw in raws:
        try:
            verified.append(verify_bundle_with_key(raw, key, image_digest))
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
