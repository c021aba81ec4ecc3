"""Keyless signatures and attestations in cosign's classic ``.sig``/``.att`` layout, offline.

Before bundles, ``cosign sign`` without a key wrote one simple-signing layer per
signature carrying, besides ``dev.cosignproject.cosign/signature``, the Fulcio leaf
certificate (PEM), its chain (PEM) and a Rekor "bundle": the log entry's body,
integrated time, index and log id with the log's Signed Entry Timestamp (SET) over them.
``cosign attest`` without a key wrote ``.att`` layers (DSSE envelopes) with the same
annotations and an empty signature, logged as ``intoto`` entries.

A layer verifies when the SET verifies with a Rekor key of the trusted root, the
certificate was valid at the integrated time and chains to a Fulcio CA of the trusted
root that was valid then, the log entry records exactly this signature (or envelope),
certificate and payload hash, the signature verifies over the payload (the envelope's
DSSE signature over its statement) with the certificate's key and the payload (the
statement's subject) names the image.  The chain annotation is not trusted: only the
trusted root's CA chains are.  Who signed (identity/issuer) is matched by the caller.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_der_public_key
from sigstore_models.common.v1 import TimeRange
from sigstore_models.trustroot.v1 import TrustedRoot

from service.errors import VerificationError
from service.signing import ecdsa
from service.signing.cosign_layout import SIGNATURE_ANNOTATION, LayerDescriptor
from service.signing.payload import SimpleSigning
from service.signing.rekor_bundle import (
    RekorBundle,
    check_entry_binds,
    check_intoto_entry_binds,
    parse_rekor_bundle,
)
from service.signing.verify import check_attestation_layer, check_simple_signing

CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"
OIDC_ISSUER_OID = "1.3.6.1.4.1.57264.1.1"  # raw string value (Fulcio before v2 extensions)
_OIDC_ISSUER_V2_OID = "1.3.6.1.4.1.57264.1.8"  # DER UTF8String


def _window(time_range: TimeRange | None, moment: datetime) -> bool:
    if time_range is None:
        return True
    return time_range.start <= moment and (time_range.end is None or moment <= time_range.end)


@dataclass(frozen=True)
class LegacyTrust:
    """The Fulcio CA chains (issuing CA first, root last) and Rekor keys of a trusted root."""

    fulcio: tuple[tuple[TimeRange | None, tuple[x509.Certificate, ...]], ...]
    rekor: dict[str, tuple[TimeRange | None, bytes]]  # log id hex -> (validity, PKIX DER)

    @classmethod
    def from_model(cls, root: TrustedRoot) -> LegacyTrust:
        fulcio = tuple(
            (
                authority.valid_for,
                tuple(
                    x509.load_der_x509_certificate(cert.raw_bytes)
                    for cert in authority.cert_chain.certificates
                ),
            )
            for authority in root.certificate_authorities
        )
        rekor = {
            tlog.log_id.key_id.hex(): (tlog.public_key.valid_for, tlog.public_key.raw_bytes or b"")
            for tlog in root.tlogs
        }
        return cls(fulcio, rekor)


def verify_set(bundle: RekorBundle, trust: LegacyTrust) -> None:
    """The SET is the log's signature over the canonical JSON of the bundle's payload."""
    known = trust.rekor.get(bundle.log_id)
    if known is None:
        raise VerificationError(
            f"the signature was logged in Rekor log {bundle.log_id}, not one of the trusted root",
            hint="pass the trusted root of the Sigstore instance that logged it",
        )
    valid_for, der = known
    if not _window(valid_for, bundle.integrated_at):
        raise VerificationError("the Rekor key was not valid at the entry's integrated time")
    message = rfc8785.dumps(
        {
            "body": bundle.body,
            "integratedTime": bundle.integrated_time,
            "logID": bundle.log_id,
            "logIndex": bundle.log_index,
        }
    )
    signature = ecdsa.decode_signature(bundle.signed_entry_timestamp)
    key = load_der_public_key(der)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
        else:
            raise VerificationError("the trusted root's Rekor key type is not supported")
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(
            "the Rekor Signed Entry Timestamp does not verify",
            hint="the bundle annotation was altered or comes from another log",
        ) from exc


def _load_certificate(pem: str) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise VerificationError("the certificate annotation is not a PEM certificate") from exc


def _valid_at(cert: x509.Certificate, moment: datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def verify_chain(leaf: x509.Certificate, moment: datetime, trust: LegacyTrust) -> None:
    """``leaf`` must be issued by a trusted Fulcio CA chain that was valid at ``moment``."""
    if not _valid_at(leaf, moment):
        raise VerificationError(
            "the certificate was not valid when the signature was logged "
            f"({moment:%Y-%m-%dT%H:%M:%SZ})"
        )
    for valid_for, chain in trust.fulcio:
        if not chain or not _window(valid_for, moment):
            continue
        try:
            for child, parent in zip((leaf, *chain), chain, strict=False):
                child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature):
            continue
        if all(_valid_at(cert, moment) for cert in chain):
            return
    raise VerificationError(
        "the certificate does not chain to a Fulcio CA of the trusted root",
        hint="pass the trusted root of the Sigstore instance that issued it",
    )


def _check_code_signing(leaf: x509.Certificate) -> None:
    try:
        usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = x509.ExtendedKeyUsage([])
    if x509.oid.ExtendedKeyUsageOID.CODE_SIGNING not in usages:
        raise VerificationError("the certificate is not a code-signing certificate")


def _extension_string(cert: x509.Certificate, dotted: str) -> bytes | None:
    try:
        extension = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(dotted))
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _oidc_issuer(cert: x509.Certificate) -> str | None:
    v2 = _extension_string(cert, _OIDC_ISSUER_V2_OID)
    if v2 is not None and len(v2) >= 2 and v2[0] == 0x0C and v2[1] == len(v2) - 2:
        return v2[2:].decode(errors="replace")  # short-form DER UTF8String
    v1 = _extension_string(cert, OIDC_ISSUER_OID)
    return v1.decode(errors="replace") if v1 is not None else None


def _identities(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return (
        *names.get_values_for_type(x509.RFC822Name),
        *names.get_values_for_type(x509.UniformResourceIdentifier),
    )


@dataclass(frozen=True)
class KeylessSignature:
    """A verified keyless layer: who the certificate names, and what was signed."""

    identities: tuple[str, ...]  # SAN emails, then URIs
    issuer: str | None
    rekor: RekorBundle
    simple: SimpleSigning

    def cosign_json(self) -> dict[str, Any]:
        """The entry ``cosign verify`` prints: the payload, ``optional`` extended with the
        certificate's subject and issuer and the Rekor bundle (Go map order: sorted)."""
        optional: dict[str, Any] = dict(self.simple.optional or {})
        optional["Subject"] = self.identities[0] if self.identities else ""
        if self.issuer:
            optional["Issuer"] = self.issuer
            optional[OIDC_ISSUER_OID] = self.issuer
        optional["Bundle"] = self.rekor.to_json_object()
        document = dict(self.simple.document)
        document["optional"] = {key: optional[key] for key in sorted(optional)}
        return document


@dataclass(frozen=True)
class KeylessAttestation:
    """A verified keyless ``.att`` layer: who the certificate names, and the statement."""

    identities: tuple[str, ...]  # SAN emails, then URIs
    issuer: str | None
    statement: dict[str, Any]


@dataclass(frozen=True)
class _Certified:
    identities: tuple[str, ...]
    issuer: str | None
    rekor: RekorBundle
    key: ec.EllipticCurvePublicKey


def _certify(
    layer: LayerDescriptor,
    trust: LegacyTrust,
    bind: Callable[[RekorBundle, x509.Certificate], None],
) -> _Certified:
    """The certificate and Rekor checks shared by ``.sig`` and ``.att`` layers; ``bind``
    checks that the log entry records this layer."""
    certificate = layer.annotations.get(CERTIFICATE_ANNOTATION)
    rekor = layer.annotations.get(BUNDLE_ANNOTATION)
    if not certificate:
        raise VerificationError("not a keyless signature (no certificate annotation)")
    if not rekor:
        raise VerificationError(
            "the keyless signature has no Rekor bundle, so it cannot be verified offline"
        )
    leaf = _load_certificate(certificate)
    _check_code_signing(leaf)
    bundle = parse_rekor_bundle(rekor)
    verify_set(bundle, trust)
    verify_chain(leaf, bundle.integrated_at, trust)
    bind(bundle, leaf)
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError("the certificate's key is not an ECDSA key")
    return _Certified(_identities(leaf), _oidc_issuer(leaf), bundle, key)


def verify_keyless_layer(
    layer: LayerDescriptor, payload: bytes, image_digest: str, trust: LegacyTrust
) -> KeylessSignature:
    """Verify one keyless ``.sig`` layer; VerificationError says which check failed."""
    signature = layer.annotations.get(SIGNATURE_ANNOTATION, "")
    certified = _certify(
        layer, trust, lambda bundle, leaf: check_entry_binds(bundle, signature, leaf, payload)
    )
    simple = check_simple_signing(layer, payload, certified.key, image_digest)
    return KeylessSignature(certified.identities, certified.issuer, certified.rekor, simple)


def verify_keyless_attestation_layer(
    layer: LayerDescriptor,
    payload: bytes,
    image_digest: str,
    trust: LegacyTrust,
    predicate_type: str | None = None,
) -> KeylessAttestation:
    """Verify one keyless ``.att`` layer (a DSSE envelope signed with the certificate's key,
    logged as an ``intoto`` entry); VerificationError says which check failed."""
    certified = _certify(
        layer, trust, lambda bundle, leaf: check_intoto_entry_binds(bundle, leaf, payload)
    )
    statement = check_attestation_layer(layer, payload, certified.key, image_digest, predicate_type)
    return KeylessAttestation(certified.identities, certified.issuer, statement)
