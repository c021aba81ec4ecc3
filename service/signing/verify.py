"""Verify cosign signatures and attestations of an image with a public key (or, through
:mod:`keyless`, a keyless identity policy).

A signature counts only when its layer's signature verifies over the payload with the
key AND the payload names the image's digest; an attestation only when a DSSE signature
verifies over the PAE AND the statement's subject is the image.  Every layer is tried;
when none passes, the VerificationError lists why each failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import VerificationError
from service.registry.interface import Registry
from service.signing import bundle, ecdsa
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Kind,
    LayerDescriptor,
    Limits,
)
from service.signing.dsse import IN_TOTO_PAYLOAD_TYPE, parse_envelope
from service.signing.payload import SimpleSigning, parse_simple_signing, parse_statement
from service.signing.store import AttachmentStore

logger = logging.getLogger(__name__)


class KeylessCheck(Protocol):
    """What verification needs of a keyless identity policy
    (:class:`service.signing.keyless.KeylessVerifier` implements it)."""

    def verify_layer(
        self, layer: LayerDescriptor, payload: bytes, image_digest: str
    ) -> dict[str, Any]: ...

    def verify_attestation_layer(
        self,
        layer: LayerDescriptor,
        payload: bytes,
        image_digest: str,
        predicate_type: str | None,
    ) -> dict[str, Any]: ...

    def verify(self, raw: bytes, image_digest: str) -> bundle.VerifiedBundle: ...


@dataclass(frozen=True)
class Verified:
    """What verified: the documents to print and where they came from."""

    documents: tuple[dict[str, Any], ...]
    sources: tuple[str, ...]  # layer or bundle digests


def check_simple_signing(
    layer: LayerDescriptor, payload: bytes, key: ec.EllipticCurvePublicKey, image_digest: str
) -> SimpleSigning:
    """The verified simple-signing payload of one ``.sig`` layer, or VerificationError."""
    if layer.media_type != SIMPLE_SIGNING_MEDIA_TYPE:
        raise VerificationError(f"media type {layer.media_type!r} is not a cosign signature")
    signature = layer.annotations.get(SIGNATURE_ANNOTATION)
    if not signature:
        raise VerificationError(f"no {SIGNATURE_ANNOTATION} annotation")
    ecdsa.verify(key, payload, signature)
    simple = parse_simple_signing(payload)
    if simple.manifest_digest != image_digest:
        raise VerificationError(
            f"the signed payload names {simple.manifest_digest}, not {image_digest}",
            hint="the signature was copied from another image",
        )
    return simple


def check_signature_layer(
    layer: LayerDescriptor, payload: bytes, key: ec.EllipticCurvePublicKey, image_digest: str
) -> dict[str, Any]:
    """The verified simple-signing document of one ``.sig`` layer, or VerificationError."""
    return check_simple_signing(layer, payload, key, image_digest).document


def check_attestation_layer(
    layer: LayerDescriptor,
    payload: bytes,
    key: ec.EllipticCurvePublicKey,
    image_digest: str,
    predicate_type: str | None,
) -> dict[str, Any]:
    """The verified in-toto statement of one ``.att`` layer, or VerificationError."""
    if layer.media_type != DSSE_MEDIA_TYPE:
        raise VerificationError(f"media type {layer.media_type!r} is not a DSSE envelope")
    envelope = parse_envelope(payload)
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationError(f"payload type {envelope.payload_type!r} is not in-toto")
    envelope.verify(key)
    statement = parse_statement(envelope.payload)
    if image_digest not in statement.subject_digests:
        raise VerificationError(
            f"the statement's subject is not {image_digest}",
            hint="the attestation was copied from another image",
        )
    if predicate_type is not None and statement.predicate_type != predicate_type:
        raise VerificationError(
            f"predicate type {statement.predicate_type!r}, not {predicate_type!r}"
        )
    return statement.document


def _is_attestation(verified: bundle.VerifiedBundle, predicate_type: str | None) -> bool:
    """A DSSE bundle's statement, of ``predicate_type`` when one is asked for."""
    return verified.statement is not None and predicate_type in (
        None,
        verified.statement.predicate_type,
    )


class ImageVerifier:
    """Verifies what cosign (2 layout, and cosign 3 bundles) attached to images."""

    def __init__(self, registry: Registry, limits: Limits | None = None) -> None:
        self._registry = registry
        self._store = AttachmentStore(registry, limits)

    def _verified_layers(
        self,
        repository: str,
        image_digest: str,
        kind: Kind,
        check: Callable[[LayerDescriptor, bytes], dict[str, Any]],
    ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
        documents: list[dict[str, Any]] = []
        sources: list[str] = []
        failures: list[str] = []
        for layer in self._store.layers(repository, image_digest, kind):
            try:
                payload = self._store.payload(repository, layer)
                documents.append(check(layer, payload))
                sources.append(layer.digest)
            except VerificationError as exc:
                failures.append(f"layer {layer.digest}: {exc}")
        return documents, sources, failures

    def _finish(
        self,
        what: str,
        *,
        repository: str,
        image_digest: str,
        found: tuple[list[dict[str, Any]], list[str], list[str]],
        verify_bundle: Callable[[bytes], bundle.VerifiedBundle],
        keep: Callable[[bundle.VerifiedBundle], bool],
    ) -> Verified:
        documents, sources, failures = found
        raws, fetch_failures = bundle.fetch_bundles(
            self._registry, repository, image_digest, self._store.limits
        )
        verified_bundles, bundle_failures = bundle.verify_any(raws, verify_bundle)
        for item in verified_bundles:
            if keep(item):
                documents.append(bundle.statement_json(item))
                sources.append("bundle")
        failures += fetch_failures + bundle_failures
        if not documents:
            detail = "; ".join(failures) if failures else f"no {what} found"
            raise VerificationError(
                f"no valid {what} for {repository}@{image_digest}: {detail}",
                hint="check the image reference and the key or identity you verify against",
            )
        logger.info("%d %s(s) verified for %s@%s", len(documents), what, repository, image_digest)
        return Verified(tuple(documents), tuple(sources))

    def verify_signatures(
        self, repository: str, image_digest: str, key: ec.EllipticCurvePublicKey
    ) -> Verified:
        found = self._verified_layers(
            repository,
            image_digest,
            Kind.SIGNATURE,
            lambda layer, payload: check_signature_layer(layer, payload, key, image_digest),
        )
        return self._finish(
            "signature",
            repository=repository,
            image_digest=image_digest,
            found=found,
            verify_bundle=lambda raw: bundle.verify_bundle_with_key(raw, key, image_digest),
            keep=bundle.is_image_signature,
        )

    def verify_signatures_keyless(
        self, repository: str, image_digest: str, verifier: KeylessCheck
    ) -> Verified:
        """Keyless image signatures whose certificate matches the policy: cosign 2 ``.sig``
        layers (certificate + Rekor bundle annotations) and cosign 3 bundles."""
        found = self._verified_layers(
            repository,
            image_digest,
            Kind.SIGNATURE,
            lambda layer, payload: verifier.verify_layer(layer, payload, image_digest),
        )
        return self._finish(
            "keyless signature",
            repository=repository,
            image_digest=image_digest,
            found=found,
            verify_bundle=lambda raw: verifier.verify(raw, image_digest),
            keep=bundle.is_image_signature,
        )

    def _attestations(
        self,
        what: str,
        repository: str,
        image_digest: str,
        *,
        predicate_type: str | None,
        check: Callable[[LayerDescriptor, bytes], dict[str, Any]],
        verify_bundle: Callable[[bytes], bundle.VerifiedBundle],
    ) -> Verified:
        return self._finish(
            what,
            repository=repository,
            image_digest=image_digest,
            found=self._verified_layers(repository, image_digest, Kind.ATTESTATION, check),
            verify_bundle=verify_bundle,
            keep=lambda item: _is_attestation(item, predicate_type),
        )

    def verify_attestations(
        self,
        repository: str,
        image_digest: str,
        key: ec.EllipticCurvePublicKey,
        predicate_type: str | None = None,
    ) -> Verified:
        return self._attestations(
            "attestation",
            repository,
            image_digest,
            predicate_type=predicate_type,
            check=lambda layer, payload: check_attestation_layer(
                layer, payload, key, image_digest, predicate_type
            ),
            verify_bundle=lambda raw: bundle.verify_bundle_with_key(raw, key, image_digest),
        )

    def verify_attestations_keyless(
        self,
        repository: str,
        image_digest: str,
        verifier: KeylessCheck,
        predicate_type: str | None = None,
    ) -> Verified:
        """Keyless attestations whose certificate matches the policy: cosign 2 ``.att``
        layers (certificate + Rekor bundle annotations) and cosign 3 DSSE bundles."""
        return self._attestations(
            "keyless attestation",
            repository,
            image_digest,
            predicate_type=predicate_type,
            check=lambda layer, payload: verifier.verify_attestation_layer(
                layer, payload, image_digest, predicate_type
            ),
            verify_bundle=lambda raw: verifier.verify(raw, image_digest),
        )
