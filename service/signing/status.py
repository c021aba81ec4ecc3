"""What the policy engine needs to know about an image's signatures: verified facts only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import InvalidReferenceError, VerificationError
from service.image.model import ImageReference
from service.registry.interface import Registry
from service.signing.attestation import predicate_type_uri
from service.signing.cosign_layout import Limits
from service.signing.model import SignatureStatus
from service.signing.verify import ImageVerifier, Verified

if TYPE_CHECKING:
    from service.signing.keyless import KeylessVerifier

logger = logging.getLogger(__name__)

OPENVEX_PREDICATE = "https://openvex.dev/ns"  # cosign's ``--type openvex`` (and versioned URIs)


def signature_status(
    registry: Registry,
    ref: ImageReference,
    digest: str,
    public_keys: Mapping[str, ec.EllipticCurvePublicKey],
    attestation_types: Iterable[str],
    *,
    limits: Limits | None = None,
    keyless: Iterable[KeylessVerifier] = (),
) -> SignatureStatus:
    """The ids of ``public_keys`` whose signatures of ``digest`` verify, and which of
    ``attestation_types`` (cosign ``--type`` names or predicate type URIs, reported as
    URIs) have an attestation verified by any of those keys or ``keyless`` identities.

    Each ``keyless`` identity policy (certificate identity + OIDC issuer + trusted root)
    with a verified keyless signature (cosign 2 layer or cosign 3 bundle) is reported
    in ``signed_by`` as ``keyless:<identity>``; its verified keyless attestations
    (cosign 2 ``.att`` layers or cosign 3 DSSE bundles) count like a key's.

    The predicates of verified OpenVEX attestations come back in ``vex`` (JSON). A
    signature or attestation that fails verification is simply not counted (logged at
    INFO); registry errors (unreachable, unauthorized) propagate.
    """
    if not ref.repository:
        raise InvalidReferenceError(
            "signatures live next to registry images", hint="pass a registry image reference"
        )
    repository = ref.repository
    wanted = {predicate_type_uri(name) for name in attestation_types}
    verifier = ImageVerifier(registry, limits)
    signed_by: list[str] = []
    attested: set[str] = set()
    vex: dict[str, None] = {}  # OpenVEX predicates (JSON), each once

    def attest(signer: str, verify: Callable[[], Verified]) -> None:
        if not wanted - attested:
            return
        try:
            verified = verify()
        except VerificationError as exc:
            logger.info("no attestation by %s on %s@%s: %s", signer, repository, digest, exc)
            return
        attested.update(wanted & {str(doc.get("predicateType")) for doc in verified.documents})
        vex.update(
            dict.fromkeys(
                json.dumps(doc.get("predicate"), sort_keys=True)
                for doc in verified.documents
                if str(doc.get("predicateType")).startswith(OPENVEX_PREDICATE)
            )
        )

    for key_id, key in sorted(public_keys.items()):
        try:
            verifier.verify_signatures(repository, digest, key)
            signed_by.append(key_id)
        except VerificationError as exc:
            logger.info("no signature by key %s on %s@%s: %s", key_id, repository, digest, exc)
        attest(f"key {key_id}", partial(verifier.verify_attestations, repository, digest, key))
    for policy in keyless:
        identity = policy.policy.identity
        try:
            verifier.verify_signatures_keyless(repository, digest, policy)
            signed_by.append(f"keyless:{identity}")
        except VerificationError as exc:
            logger.info(
                "no keyless signature by %s on %s@%s: %s", identity, repository, digest, exc
            )
        attest(
            f"keyless {identity}",
            partial(verifier.verify_attestations_keyless, repository, digest, policy),
        )
    return SignatureStatus(
        signed_by=tuple(signed_by), attestations=tuple(sorted(attested)), vex=tuple(vex)
    )
