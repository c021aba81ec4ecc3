"""Keyless (Fulcio certificate) Sigstore bundles, verified offline with sigstore-python.

Nothing is fetched: the trusted root (Fulcio CAs, Rekor and CT log keys, TSAs) is a
file the caller names, like ``cosign verify --trusted-root``.  A bundle counts when its
certificate chains to that root, its transparency-log entry and timestamps verify, the
certificate's identity and OIDC issuer are the expected ones, and what it signs is the
image: a message signature over the image digest, or a DSSE statement whose subject is
the image.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sigstore.errors import Error as SigstoreError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TrustedRoot
from sigstore.verify import Verifier
from sigstore.verify.policy import Identity
from sigstore_models.common.v1 import HashAlgorithm

from service.errors import SigningError, VerificationError
from service.signing.bundle import VerifiedBundle, check_subject, parse_bundle
from service.signing.payload import parse_statement

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeylessPolicy:
    """Who must have signed: a trusted root file and the certificate identity/issuer."""

    trusted_root: Path
    identity: str
    issuer: str


def _load_trusted_root(path: Path) -> TrustedRoot:
    try:
        return TrustedRoot.from_file(str(path))
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
    """Verifies keyless bundles against one policy (the trusted root is read once)."""

    def __init__(self, policy: KeylessPolicy) -> None:
        self._policy = policy
        self._verifier = Verifier(trusted_root=_load_trusted_root(policy.trusted_root))
        self._identity = Identity(identity=policy.identity, issuer=policy.issuer)

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
                    f"expected a certificate for {self._policy.identity} issued by "
                    f"{self._policy.issuer}, chaining to {self._policy.trusted_root}"
                ),
            ) from exc
        logger.info("keyless bundle verified for %s", self._policy.identity)
        return verified
