"""Keyless attestations in cosign 2's ``.att`` layout, counted for keyless identities.

The layers are SELF-MADE (``keyless_pki``: own CA chain and Rekor key): the DSSE envelope
is signed with the Fulcio-like certificate's key and logged as a Rekor ``intoto`` entry
(v0.0.2 as cosign 2 logs it, and v0.0.1) whose hash is the envelope's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509

from service.errors import VerificationError
from service.image.digest import sha256_digest
from service.image.reference import parse_reference
from service.signing.attestation import PREDICATE_TYPES
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Kind,
    LayerDescriptor,
)
from service.signing.dsse import parse_envelope
from service.signing.keyless import KeylessPolicy, KeylessVerifier
from service.signing.keyless_layer import BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION
from service.signing.keys import generate_private_key
from service.signing.payload import in_toto_statement, simple_signing_payload
from service.signing.signer import attest_image
from service.signing.status import signature_status
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier
from tests.unit.signing.fake_registry import FakeRegistry
from tests.unit.signing.keyless_pki import IDENTITY, ISSUER, SelfMadeSigstore

REPO = "team/app"
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32
SLSA = PREDICATE_TYPES["slsaprovenance1"]
CYCLONEDX = PREDICATE_TYPES["cyclonedx"]
REF = parse_reference(f"registry.test/{REPO}@{DIGEST}")


@pytest.fixture
def verifier(root: Path) -> KeylessVerifier:
    return KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))


def _statement(digest: str = DIGEST, predicate_type: str = SLSA) -> bytes:
    return in_toto_statement(f"registry.test/{REPO}", digest, predicate_type, {"builder": "ci"})


def _layer(envelope: bytes, annotations: dict[str, str]) -> LayerDescriptor:
    return LayerDescriptor(DSSE_MEDIA_TYPE, sha256_digest(envelope), len(envelope), annotations)


def _push(registry: FakeRegistry, envelope: bytes, annotations: dict[str, str]) -> None:
    AttachmentStore(registry).attach(
        REPO,
        DIGEST,
        Kind.ATTESTATION,
        media_type=DSSE_MEDIA_TYPE,
        payload=envelope,
        annotations=annotations,
    )


@pytest.mark.parametrize("api_version", ["0.0.2", "0.0.1"])
def test_keyless_attestation_by_the_identity_is_counted(
    fake_registry: FakeRegistry,
    sigstore: SelfMadeSigstore,
    verifier: KeylessVerifier,
    api_version: str,
) -> None:
    statement = _statement()
    _push(fake_registry, *sigstore.attestation(statement, api_version=api_version))

    verified = ImageVerifier(fake_registry).verify_attestations_keyless(REPO, DIGEST, verifier)
    status = signature_status(
        fake_registry, REF, DIGEST, {}, ["slsaprovenance1", "cyclonedx"], keyless=[verifier]
    )

    assert verified.documents == (json.loads(statement),)
    assert status.attestations == (SLSA,)
    assert status.signed_by == ()  # an attestation is not an image signature


def test_predicate_type_filter(
    fake_registry: FakeRegistry, sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    _push(fake_registry, *sigstore.attestation(_statement()))
    image_verifier = ImageVerifier(fake_registry)

    assert image_verifier.verify_attestations_keyless(REPO, DIGEST, verifier, SLSA).documents
    with pytest.raises(VerificationError, match="predicate type"):
        image_verifier.verify_attestations_keyless(REPO, DIGEST, verifier, CYCLONEDX)


@pytest.mark.parametrize(
    ("identity", "issuer", "message"),
    [
        ("someone@example.test", ISSUER, "issued to builder@example.test, not someone"),
        (IDENTITY, "https://accounts.google.com", "OIDC issuer is https://issuer.example.test"),
    ],
)
def test_attestation_by_another_identity_or_issuer_is_not_counted(
    fake_registry: FakeRegistry,
    sigstore: SelfMadeSigstore,
    root: Path,
    identity: str,
    issuer: str,
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    _push(fake_registry, *sigstore.attestation(_statement()))
    policy = KeylessVerifier(KeylessPolicy(root, identity, issuer))

    with pytest.raises(VerificationError, match=message):
        ImageVerifier(fake_registry).verify_attestations_keyless(REPO, DIGEST, policy)
    with caplog.at_level(logging.INFO, logger="service.signing.status"):
        status = signature_status(
            fake_registry, REF, DIGEST, {}, ["slsaprovenance1"], keyless=[policy]
        )

    assert status.attestations == ()
    assert f"no attestation by keyless {identity}" in caplog.text


def test_certificate_from_another_ca_is_not_counted(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    stranger = SelfMadeSigstore(rekor_key=sigstore.rekor_key)  # same log, untrusted CA
    envelope, annotations = stranger.attestation(_statement())
    with pytest.raises(VerificationError, match="does not chain to a Fulcio CA"):
        verifier.verify_attestation_layer(_layer(envelope, annotations), envelope, DIGEST)


def test_attestation_about_another_image_is_not_counted(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    envelope, annotations = sigstore.attestation(_statement(OTHER_DIGEST))
    with pytest.raises(VerificationError, match="copied from another image"):
        verifier.verify_attestation_layer(_layer(envelope, annotations), envelope, DIGEST)


def _tamper(envelope: bytes) -> bytes:
    """The envelope with its statement's predicate altered, signatures kept."""
    parsed = parse_envelope(envelope)
    statement = json.loads(parsed.payload)
    statement["predicate"]["builder"] = "attacker"
    return replace(parsed, payload=json.dumps(statement).encode()).to_json()


def test_tampered_envelope_is_not_counted(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    envelope, annotations = sigstore.attestation(_statement())
    tampered = _tamper(envelope)
    with pytest.raises(VerificationError, match="records another payload"):
        verifier.verify_attestation_layer(_layer(tampered, annotations), tampered, DIGEST)


def test_tampered_statement_logged_anew_fails_its_dsse_signature(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    """Even with a log entry for the altered envelope and the same certificate, the
    certificate key's DSSE signature does not cover the altered statement."""
    envelope, annotations = sigstore.attestation(_statement())
    tampered = _tamper(envelope)
    certificate = x509.load_pem_x509_certificate(annotations[CERTIFICATE_ANNOTATION].encode())
    relogged = sigstore.intoto_bundle(parse_envelope(tampered), certificate)
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        verifier.verify_attestation_layer(
            _layer(tampered, {**annotations, BUNDLE_ANNOTATION: relogged}), tampered, DIGEST
        )


def test_certificate_other_than_the_logged_one_is_not_counted(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    envelope, annotations = sigstore.attestation(_statement())
    _, other = sigstore.attestation(_statement())  # same CA, another key and certificate
    swapped = {**annotations, CERTIFICATE_ANNOTATION: other[CERTIFICATE_ANNOTATION]}
    with pytest.raises(VerificationError, match="records another certificate"):
        verifier.verify_attestation_layer(_layer(envelope, swapped), envelope, DIGEST)


def test_signature_log_entry_does_not_vouch_for_an_attestation(
    sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    """A ``rekord`` entry (what a ``.sig`` layer is logged as) is not an ``intoto`` one."""
    key = generate_private_key()
    envelope, _ = sigstore.attestation(_statement(), cert_key=key)
    signature_style = sigstore.annotations(envelope, cert_key=key)  # same key, rekord entry
    mixed = {**signature_style, SIGNATURE_ANNOTATION: ""}
    with pytest.raises(VerificationError, match="not an intoto entry"):
        verifier.verify_attestation_layer(_layer(envelope, mixed), envelope, DIGEST)


def test_key_attestations_count_as_before_and_not_for_keyless_identities(
    fake_registry: FakeRegistry, sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    key = generate_private_key()
    attest_image(
        AttachmentStore(fake_registry),
        key,
        repository=REPO,
        subject_name=f"registry.test/{REPO}",
        image_digest=DIGEST,
        predicate_type=CYCLONEDX,
        predicate={"bomFormat": "CycloneDX"},
    )
    wanted = ["cyclonedx", "slsaprovenance1"]

    by_key = signature_status(fake_registry, REF, DIGEST, {"ci": key.public_key()}, wanted)
    keyless_only = signature_status(fake_registry, REF, DIGEST, {}, wanted, keyless=[verifier])
    with pytest.raises(VerificationError, match="not a keyless signature"):
        ImageVerifier(fake_registry).verify_attestations_keyless(REPO, DIGEST, verifier)

    _push(fake_registry, *sigstore.attestation(_statement()))
    both = signature_status(
        fake_registry, REF, DIGEST, {"ci": key.public_key()}, wanted, keyless=[verifier]
    )

    assert by_key.attestations == (CYCLONEDX,)
    assert keyless_only.attestations == ()
    assert both.attestations == (CYCLONEDX, SLSA)


def test_keyless_signature_layer_is_still_verified(
    fake_registry: FakeRegistry, sigstore: SelfMadeSigstore, verifier: KeylessVerifier
) -> None:
    """A keyless ``.sig`` layer and a keyless ``.att`` layer side by side: one signer,
    one attestation."""
    payload = simple_signing_payload(f"registry.test/{REPO}", DIGEST)
    AttachmentStore(fake_registry).attach(
        REPO,
        DIGEST,
        Kind.SIGNATURE,
        media_type=SIMPLE_SIGNING_MEDIA_TYPE,
        payload=payload,
        annotations=sigstore.annotations(payload),
    )
    _push(fake_registry, *sigstore.attestation(_statement()))

    status = signature_status(
        fake_registry, REF, DIGEST, {}, ["slsaprovenance1"], keyless=[verifier]
    )

    assert status.signed_by == (f"keyless:{IDENTITY}",)
    assert status.attestations == (SLSA,)
