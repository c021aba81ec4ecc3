"""Keyless signatures in cosign's classic ``.sig`` layout (certificate + Rekor SET bundle).

The REAL layer (``sigstore_rs_keyless.*``, cosign keyless signing in October 2021)
chains to the production trusted root's 2021 Fulcio CA and was logged in production
Rekor; its certificate predates the OIDC-issuer extension, so the identity policy
(which needs an issuer) is exercised with the SELF-MADE CA of ``keyless_pki``.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path

import pytest

from service.errors import VerificationError
from service.image.digest import sha256_digest
from service.image.reference import parse_reference
from service.signing.cosign_layout import (
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Kind,
    LayerDescriptor,
)
from service.signing.keyless import KeylessPolicy, KeylessVerifier, _load_trusted_root
from service.signing.keyless_layer import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    OIDC_ISSUER_OID,
    LegacyTrust,
    verify_keyless_layer,
)
from service.signing.keys import generate_private_key
from service.signing.payload import simple_signing_payload
from service.signing.signer import sign_image
from service.signing.status import signature_status
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier
from tests.unit.signing.fake_registry import FakeRegistry
from tests.unit.signing.keyless_pki import IDENTITY, INTEGRATED, ISSUER, SelfMadeSigstore

REAL_IDENTITY = "flavio@castelli.me"


def _layer(payload: bytes, annotations: dict[str, str]) -> LayerDescriptor:
    return LayerDescriptor(
        SIMPLE_SIGNING_MEDIA_TYPE, sha256_digest(payload), len(payload), annotations
    )


@pytest.fixture
def real(fixtures: Path) -> tuple[bytes, dict[str, str], str]:
    payload = (fixtures / "sigstore_rs_keyless.payload.json").read_bytes()
    annotations = {
        SIGNATURE_ANNOTATION: (fixtures / "sigstore_rs_keyless.sig").read_text(),
        CERTIFICATE_ANNOTATION: (fixtures / "sigstore_rs_keyless.cert.pem").read_text(),
        BUNDLE_ANNOTATION: (fixtures / "sigstore_rs_keyless.rekor_bundle.json").read_text(),
    }
    digest = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
    return payload, annotations, digest


@pytest.fixture
def production(fixtures: Path) -> LegacyTrust:
    return LegacyTrust.from_model(
        _load_trusted_root(fixtures / "sigstore_production_trusted_root.json")
    )


def test_real_cosign_keyless_layer_verifies_offline(
    real: tuple[bytes, dict[str, str], str], production: LegacyTrust
) -> None:
    payload, annotations, digest = real

    verified = verify_keyless_layer(_layer(payload, annotations), payload, digest, production)

    assert verified.identities == (REAL_IDENTITY,)
    assert verified.issuer is None  # 2021 Fulcio certificates carry no issuer extension
    assert verified.simple.manifest_digest == digest
    bundle = json.loads(annotations[BUNDLE_ANNOTATION])
    assert verified.cosign_json()["optional"] == {"Bundle": bundle, "Subject": REAL_IDENTITY}


def test_real_layer_without_issuer_fails_an_issuer_policy(
    real: tuple[bytes, dict[str, str], str], fixtures: Path
) -> None:
    payload, annotations, digest = real
    root = fixtures / "sigstore_production_trusted_root.json"
    verifier = KeylessVerifier(KeylessPolicy(root, REAL_IDENTITY, "https://github.com/login/oauth"))
    with pytest.raises(VerificationError, match="OIDC issuer is not recorded"):
        verifier.verify_layer(_layer(payload, annotations), payload, digest)


def test_real_layer_fails_against_staging_root(
    real: tuple[bytes, dict[str, str], str], fixtures: Path
) -> None:
    payload, annotations, digest = real
    staging = LegacyTrust.from_model(
        _load_trusted_root(fixtures / "sigstore_staging_trusted_root.json")
    )
    with pytest.raises(VerificationError, match="not one of the trusted root"):
        verify_keyless_layer(_layer(payload, annotations), payload, digest, staging)


def _flip_b64(value: str) -> str:
    raw = bytearray(base64.b64decode(value))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def _edit_bundle(annotations: dict[str, str], edit: str) -> dict[str, str]:
    bundle = json.loads(annotations[BUNDLE_ANNOTATION])
    if edit == "set":
        bundle["SignedEntryTimestamp"] = _flip_b64(bundle["SignedEntryTimestamp"])
    else:
        bundle["Payload"][edit] += 1
    return {**annotations, BUNDLE_ANNOTATION: json.dumps(bundle)}


@pytest.mark.parametrize("edit", ["set", "integratedTime", "logIndex"])
def test_real_layer_with_altered_rekor_bundle_fails(
    real: tuple[bytes, dict[str, str], str], production: LegacyTrust, edit: str
) -> None:
    payload, annotations, digest = real
    layer = _layer(payload, _edit_bundle(annotations, edit))
    with pytest.raises(VerificationError, match="Signed Entry Timestamp does not verify"):
        verify_keyless_layer(layer, payload, digest, production)


def test_real_layer_with_tampered_payload_fails(
    real: tuple[bytes, dict[str, str], str], production: LegacyTrust
) -> None:
    payload, annotations, digest = real
    tampered = payload.replace(b"disallow-service-nodeport", b"allow-service-nodeport")
    with pytest.raises(VerificationError, match="records another payload"):
        verify_keyless_layer(_layer(tampered, annotations), tampered, digest, production)


def test_real_layer_for_another_image_fails(
    real: tuple[bytes, dict[str, str], str], production: LegacyTrust
) -> None:
    payload, annotations, _ = real
    with pytest.raises(VerificationError, match="copied from another image"):
        verify_keyless_layer(
            _layer(payload, annotations), payload, "sha256:" + "0" * 64, production
        )


# --- self-made CA: identity policy and every check ------------------------------------

DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32


def _push(registry: FakeRegistry, payload: bytes, annotations: dict[str, str]) -> None:
    AttachmentStore(registry).attach(
        "team/app",
        DIGEST,
        Kind.SIGNATURE,
        media_type=SIMPLE_SIGNING_MEDIA_TYPE,
        payload=payload,
        annotations=annotations,
    )


def test_keyless_layer_verifies_with_cosign_output_shape(
    fake_registry: FakeRegistry, sigstore: SelfMadeSigstore, root: Path
) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST, {"team": "core"})
    annotations = sigstore.annotations(payload)
    _push(fake_registry, payload, annotations)
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))

    verified = ImageVerifier(fake_registry).verify_signatures_keyless("team/app", DIGEST, verifier)

    (document,) = verified.documents
    assert list(document) == ["critical", "optional"]
    assert document["critical"] == json.loads(payload)["critical"]
    assert document["optional"] == {
        OIDC_ISSUER_OID: ISSUER,
        "Bundle": json.loads(annotations[BUNDLE_ANNOTATION]),
        "Issuer": ISSUER,
        "Subject": IDENTITY,
        "team": "core",
    }
    assert list(document["optional"]) == sorted(document["optional"])  # Go map order
    assert list(document["optional"]["Bundle"]["Payload"]) == [
        "body",
        "integratedTime",
        "logIndex",
        "logID",
    ]
    assert document["optional"]["Bundle"]["Payload"]["integratedTime"] == int(
        INTEGRATED.timestamp()
    )


@pytest.mark.parametrize(
    ("identity", "issuer", "message"),
    [
        ("someone@example.test", ISSUER, "issued to builder@example.test, not someone"),
        (IDENTITY, "https://accounts.google.com", "OIDC issuer is https://issuer.example.test"),
    ],
)
def test_wrong_identity_or_issuer_fails(
    sigstore: SelfMadeSigstore, root: Path, identity: str, issuer: str, message: str
) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    layer = _layer(payload, sigstore.annotations(payload))
    verifier = KeylessVerifier(KeylessPolicy(root, identity, issuer))
    with pytest.raises(VerificationError, match=message):
        verifier.verify_layer(layer, payload, DIGEST)


def test_certificate_from_another_ca_fails(
    sigstore: SelfMadeSigstore, root: Path, tmp_path: Path
) -> None:
    stranger = SelfMadeSigstore(rekor_key=sigstore.rekor_key)  # same log, other CA
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    layer = _layer(payload, stranger.annotations(payload))
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="does not chain to a Fulcio CA"):
        verifier.verify_layer(layer, payload, DIGEST)


def test_certificate_not_valid_at_integrated_time_fails(
    sigstore: SelfMadeSigstore, root: Path
) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    annotations = sigstore.annotations(payload, not_before=INTEGRATED + timedelta(minutes=1))
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="not valid when the signature was logged"):
        verifier.verify_layer(_layer(payload, annotations), payload, DIGEST)


def test_set_signed_by_another_log_key_fails(sigstore: SelfMadeSigstore, root: Path) -> None:
    forger = SelfMadeSigstore(
        root_key=sigstore.root_key, intermediate_key=sigstore.intermediate_key
    )
    forger.root, forger.intermediate = sigstore.root, sigstore.intermediate
    forger_log_id = forger.log_id
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    annotations = forger.annotations(payload)
    bundle = annotations[BUNDLE_ANNOTATION].replace(forger_log_id, sigstore.log_id)
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="Signed Entry Timestamp does not verify"):
        verifier.verify_layer(
            _layer(payload, {**annotations, BUNDLE_ANNOTATION: bundle}), payload, DIGEST
        )


def test_signature_over_other_bytes_fails(sigstore: SelfMadeSigstore, root: Path) -> None:
    """The log entry is consistent but the signature is not over the layer's payload."""
    signed = simple_signing_payload("registry.test/team/app", DIGEST)
    payload = simple_signing_payload("registry.test/team/app", DIGEST, {"x": "y"})
    annotations = sigstore.annotations(signed)
    body = json.loads(
        base64.b64decode(json.loads(annotations[BUNDLE_ANNOTATION])["Payload"]["body"])
    )
    assert body["spec"]["data"]["hash"]["value"] == sha256_digest(signed).removeprefix("sha256:")
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="records another payload"):
        verifier.verify_layer(_layer(payload, annotations), payload, DIGEST)


def test_other_images_signature_fails(sigstore: SelfMadeSigstore, root: Path) -> None:
    payload = simple_signing_payload("registry.test/team/app", OTHER_DIGEST)
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="copied from another image"):
        verifier.verify_layer(_layer(payload, sigstore.annotations(payload)), payload, DIGEST)


def test_signature_swapped_from_another_layer_fails(sigstore: SelfMadeSigstore, root: Path) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    annotations = sigstore.annotations(payload)
    other = sigstore.annotations(payload)  # same payload, another certificate/signature
    swapped = {**annotations, SIGNATURE_ANNOTATION: other[SIGNATURE_ANNOTATION]}
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="records another signature"):
        verifier.verify_layer(_layer(payload, swapped), payload, DIGEST)


@pytest.mark.parametrize(
    ("drop_or_replace", "message"),
    [
        ({CERTIFICATE_ANNOTATION: None}, "not a keyless signature"),
        ({BUNDLE_ANNOTATION: None}, "cannot be verified offline"),
        ({CERTIFICATE_ANNOTATION: "-----BEGIN CERTIFICATE-----\nAAAA\n"}, "not a PEM"),
        ({BUNDLE_ANNOTATION: "{not json"}, "not JSON"),
        ({BUNDLE_ANNOTATION: '{"Payload": {"body": 1}}'}, "has no SignedEntryTimestamp"),
        ({SIGNATURE_ANNOTATION: "%%%"}, "not valid base64"),
    ],
)
def test_malformed_keyless_layers_are_verification_errors(
    sigstore: SelfMadeSigstore, root: Path, drop_or_replace: dict[str, str | None], message: str
) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    annotations = sigstore.annotations(payload)
    for name, value in drop_or_replace.items():
        if value is None:
            del annotations[name]
        else:
            annotations[name] = value
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match=message):
        verifier.verify_layer(_layer(payload, annotations), payload, DIGEST)


def test_key_signed_layer_is_not_keyless(fake_registry: FakeRegistry, root: Path) -> None:
    sign_image(
        AttachmentStore(fake_registry),
        generate_private_key(),
        repository="team/app",
        docker_reference="registry.test/team/app",
        image_digest=DIGEST,
    )
    verifier = KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="not a keyless signature"):
        ImageVerifier(fake_registry).verify_signatures_keyless("team/app", DIGEST, verifier)


def test_signature_status_counts_keyless_signers(
    fake_registry: FakeRegistry, sigstore: SelfMadeSigstore, root: Path
) -> None:
    payload = simple_signing_payload("registry.test/team/app", DIGEST)
    _push(fake_registry, payload, sigstore.annotations(payload))
    ref = parse_reference("registry.test/team/app@" + DIGEST)
    policies = [
        KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER)),
        KeylessVerifier(KeylessPolicy(root, "someone@example.test", ISSUER)),
    ]

    status = signature_status(fake_registry, ref, DIGEST, {}, [], keyless=policies)
    unsigned = signature_status(fake_registry, ref, OTHER_DIGEST, {}, [], keyless=policies)

    assert status.signed_by == (f"keyless:{IDENTITY}",)
    assert unsigned.signed_by == ()
