"""Sign images and attach attestations the way ``cosign sign`` / ``cosign attest`` do."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import VerificationError
from service.image.digest import sha256_digest
from service.signing import ecdsa
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Kind,
    LayerDescriptor,
)
from service.signing.dsse import sign_envelope
from service.signing.payload import in_toto_statement, simple_signing_payload
from service.signing.store import AttachmentStore

logger = logging.getLogger(__name__)


def sign_image(
    store: AttachmentStore,
    key: ec.EllipticCurvePrivateKey,
    *,
    repository: str,
    docker_reference: str,
    image_digest: str,
    annotations: Mapping[str, str] | None = None,
) -> bool:
    """Store a simple-signing signature at ``sha256-<hex>.sig``.

    Like cosign, a signature by the same key over the same payload is not added twice
    (returns False).
    """
    payload = simple_signing_payload(docker_reference, image_digest, annotations)
    payload_digest = sha256_digest(payload)

    def signed_by_us(layer: LayerDescriptor) -> bool:
        if layer.digest != payload_digest:
            return False
        try:
            ecdsa.verify(key.public_key(), payload, layer.annotations.get(SIGNATURE_ANNOTATION, ""))
        except VerificationError:
            return False
        return True

    return store.attach(
        repository,
        image_digest,
        Kind.SIGNATURE,
        media_type=SIMPLE_SIGNING_MEDIA_TYPE,
        payload=payload,
        annotations={SIGNATURE_ANNOTATION: ecdsa.sign(key, payload)},
        duplicate=signed_by_us,
    )


def attest_image(
    store: AttachmentStore,
    key: ec.EllipticCurvePrivateKey,
    *,
    repository: str,
    subject_name: str,
    image_digest: str,
    predicate_type: str,
    predicate: Any,
) -> bool:
    """Store a DSSE-wrapped in-toto statement at ``sha256-<hex>.att``."""
    statement = in_toto_statement(subject_name, image_digest, predicate_type, predicate)
    envelope = sign_envelope(key, statement)
    return store.attach(
        repository,
        image_digest,
        Kind.ATTESTATION,
        media_type=DSSE_MEDIA_TYPE,
        payload=envelope.to_json(),
        annotations={SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type},
    )
