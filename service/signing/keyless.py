"""Keyless (Fulcio certificate) signatures and attestations, verified offline against one
identity policy.

Sigstore bundles are verified with sigstore-python; cosign 2 ``.sig`` and ``.att`` layers
with :mod:`keyless_layer`.  Nothing is fetched: the trusted root (Fulcio CAs, Rekor and CT
log keys, TSAs) is a file the caller names, like ``cosign verify --trusted-root``.  A
signature counts when its certificate chains to that root, its transparency-log entry
and timestamps verify, the certificate's identity and OIDC issuer are the expected ones,
and what it signs is the image: a simple-signing payload or message signature over the
image digest, or a DSSE statement whose subject is the image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootModel

from service.errors import SigningError, VerificationError
from service.signing.bundle import VerifiedBundle, check_subject, parse_bundle
from service.signing.cosign_layout import LayerDescriptor
from service.signing.keyless_layer import (
    LegacyTrust,
    verify_keyless_attestation_layer,
    verify_keyless_layer,
)
from service.signing.payload import parse_statement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeylessPolicy:
    """Who must have signed: a trusted root file and the certificate identity/issuer."""

    trusted_root: Path
    identity: str
    issuer: str


def _load_trusted_root(path: Path) -> TrustedRootModel:
    try:
        return TrustedRootModel.from_json(path.read_bytes())
    except OSError as exc:
        raise SigningError(
            f"cannot read the trusted root {path}: {exc.strerror}",
            hint="pass a Sigstore trusted_root.json with --trusted-root",
        ) from exc
    except (ValidationError, ValueError, SigstoreError) as exc:
        raise SigningError(
            f"{path} is not a Sigstore trusted root",
            hint="pass a trusted_root.json (as distributed by Sigstore's TUF repository)",
        ) from exc


def _image_hash(image_digest: str) -> Hashed:
    algorithm, _, hex_digest = image_digest.partition(":")
    if algorithm != "sha256" or len(hex_digest) != 64:
        raise VerificationError(f"{image_digest} is not a sha256 digest")
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(hex_digest))


class KeylessVerifier:
    """Verifies keyless bundles and layers against one policy (the trusted root is read once)."""

    def __init__(self, policy: KeylessPolicy) -> None:
        self.policy = policy
        root = _load_trusted_root(policy.trusted_root)
        self._verifier = Verifier(trusted_root=TrustedRoot(root))
        self._legacy_trust = LegacyTrust.from_model(root)
        self._identity = Identity(identity=policy.identity, issuer=policy.issuer)

    def _check_signer(self, identities: tuple[str, ...], issuer: str | None) -> None:
        if self.policy.identity not in identities:
            raise VerificationError(
                f"the certificate was issued to {', '.join(identities) or 'nobody'}, "
                f"not {self.policy.identity}",
                hint="check --certificate-identity",
            )
        if issuer != self.policy.issuer:
            raise VerificationError(
                f"the certificate's OIDC issuer is {issuer or 'not recorded'}, "
                f"not {self.policy.issuer}",
                hint="check --certificate-oidc-issuer",
            )

    def verify_layer(
        self, layer: LayerDescriptor, payload: bytes, image_digest: str
    ) -> dict[str, Any]:
        """A cosign 2 keyless ``.sig`` layer by the expected signer: what ``cosign verify``
        prints for it, or VerificationError."""
        signature = verify_keyless_layer(layer, payload, image_digest, self._legacy_trust)
        self._check_signer(signature.identities, signature.issuer)
        logger.info("keyless layer %s verified for %s", layer.digest, self.policy.identity)
        return signature.cosign_json()

    def verify_attestation_layer(
        self,
        layer: LayerDescriptor,
        payload: bytes,
        image_digest: str,
        predicate_type: str | None = None,
    ) -> dict[str, Any]:
        """A cosign 2 keyless ``.att`` layer by the expected signer: its in-toto statement,
        or VerificationError."""
        attestation = verify_keyless_attestation_layer(
            layer, payload, image_digest, self._legacy_trust, predicate_type
        )
        self._check_signer(attestation.identities, attestation.issuer)
        logger.info("keyless attestation %s verified for %s", layer.digest, self.policy.identity)
        return attestation.statement

    def verify(self, raw: bytes, image_digest: str) -> VerifiedBundle:
        """The verified bundle, or VerificationError saying which check failed."""
        is_dsse = parse_bundle(raw).dsse_envelope is not None
        try:
            bundle = Bundle.from_json(raw)
        except (SigstoreError, ValidationError, ValueError) as exc:
            raise VerificationError(f"the keyless bundle could not be read: {exc}") from exc
        try:
            if is_dsse:
                _, payload = self._verifier.verify_dsse(bundle, self._identity)
                statement = check_subject(parse_statement(payload), image_digest)
                verified = VerifiedBundle(statement, None)
            else:
                self._verifier.verify_artifact(_image_hash(image_digest), bundle, self._identity)
                verified = VerifiedBundle(None, image_digest)
        except SigstoreError as exc:
            raise VerificationError(
                f"keyless verification failed: {exc}",
                hint=(
                    f"expected a certificate for {self.policy.identity} issued by "
                    f"{self.policy.issuer}, chaining to {self.policy.trusted_root}"
                ),
            ) from exc
        logger.info("keyless bundle verified for %s", self.policy.identity)
        return verified
