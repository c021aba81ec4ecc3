"""Who signed a scanned image: the signatures and attestations that verify in its registry.

Checked after every scan of a registry image, whether or not the service signs: with
the public keys named in ``TOLLGATE_VERIFY_KEYS`` (reported by name, e.g. ``ci``), the
service's own key when there is one (reported by fingerprint) and each keyless identity
of ``TOLLGATE_KEYLESS_IDENTITIES`` (reported as ``keyless:<identity>``).  The result is
what policies see (``required_signature``, ``required_attestations``) and what is stored
on the image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import ConfigurationError, SigningError, TollgateError
from service.image.model import PinnedImage
from service.registry.interface import Registry
from service.settings import Settings
from service.signing.attestation import PREDICATE_TYPES
from service.signing.keyring import SigningKey
from service.signing.keys import load_public_key
from service.signing.model import SignatureStatus
from service.signing.status import signature_status

if TYPE_CHECKING:  # sigstore loads only when keyless identities are configured
    from service.signing.keyless import KeylessPolicy, KeylessVerifier

logger = logging.getLogger(__name__)

# Every attestation type cosign knows, as predicate type URIs.
KNOWN_ATTESTATIONS = tuple(sorted(set(PREDICATE_TYPES.values())))


class SignatureChecker:
    """Verifies an image's signatures with named public keys and keyless identities;
    ``registries(host)`` gives the client for a registry."""

    def __init__(
        self,
        registries: Callable[[str], Registry],
        public_keys: Mapping[str, ec.EllipticCurvePublicKey],
        keyless: Sequence[KeylessVerifier] = (),
    ) -> None:
        self._registries = registries
        self._keys = dict(public_keys)
        self._keyless = tuple(keyless)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        registries: Callable[[str], Registry],
        service_key: SigningKey | None = None,
    ) -> SignatureChecker:
        """The configured verification keys and keyless identities, plus ``service_key``."""
        keys = {name: _read_public_key(name, path) for name, path in settings.verify_keys.items()}
        if service_key is not None:
            keys[service_key.key_id] = service_key.public_key
        keyless = []
        if settings.keyless_identities:
            from service.signing.keyless import KeylessPolicy

            assert settings.trusted_root is not None, "Settings refuses identities without a root"
            for signer in settings.keyless_identities:
                policy = KeylessPolicy(settings.trusted_root, signer.identity, signer.issuer)
                keyless.append(_keyless_verifier(policy))
        logger.info(
            "signatures verified with keys %s and %d keyless identities",
            ", ".join(sorted(keys)) or "(none)",
            len(keyless),
        )
        return cls(registries, keys, keyless)

    def status(self, image: PinnedImage) -> SignatureStatus:
        """What verifies now (empty when nothing is configured or the image is not in a
        registry); registry errors propagate."""
        ref = image.reference
        if not (self._keys or self._keyless) or not ref.registry or not ref.repository:
            return SignatureStatus()
        return signature_status(
            self._registries(ref.registry),
            ref,
            image.digest,
            self._keys,
            KNOWN_ATTESTATIONS,
            keyless=self._keyless,
        )

    def verified(self, image: PinnedImage) -> SignatureStatus:
        """:meth:`status`, where unreadable signatures count as none (logged); transient
        registry errors propagate so the caller can retry."""
        try:
            return self.status(image)
        except TollgateError as error:
            if error.transient:
                raise
            logger.warning("signatures of %s unreadable: %s", image.digest, error)
            return SignatureStatus()


def combined(first: SignatureStatus, second: SignatureStatus) -> SignatureStatus:
    """Both statuses' signers, attestations and VEX documents (each once, first-seen order)."""
    return SignatureStatus(
        signed_by=tuple(dict.fromkeys(first.signed_by + second.signed_by)),
        attestations=tuple(sorted(set(first.attestations) | set(second.attestations))),
        vex=tuple(dict.fromkeys(first.vex + second.vex)),
    )


def _read_public_key(name: str, path: Path) -> ec.EllipticCurvePublicKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the verification key {name!r} at {path}: {exc.strerror}",
            hint="check TOLLGATE_VERIFY_KEYS and the file's permissions",
        ) from exc
    try:
        return load_public_key(data)
    except SigningError as exc:
        raise ConfigurationError(
            f"the verification key {name!r} at {path} is unusable: {exc.message}",
            hint="give the cosign.pub (PEM 'PUBLIC KEY', ECDSA P-256) in TOLLGATE_VERIFY_KEYS",
        ) from exc


def _keyless_verifier(policy: KeylessPolicy) -> KeylessVerifier:
    from service.signing.keyless import KeylessVerifier

    try:
        return KeylessVerifier(policy)
    except SigningError as exc:
        raise ConfigurationError(
            exc.message, hint="check TOLLGATE_TRUSTED_ROOT (a Sigstore trusted_root.json)"
        ) from exc
