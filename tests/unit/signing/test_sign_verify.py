from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import VerificationError
from service.image.digest import sha256_digest
from service.signing import ecdsa
from service.signing.attestation import PREDICATE_TYPES, build_predicate
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    OCI_CONFIG,
    OCI_MANIFEST,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
    Kind,
    LayerDescriptor,
    Limits,
    attachment_tag,
    config_blob,
    manifest_bytes,
)
from service.signing.dsse import pae, parse_envelope
from service.signing.keys import generate_private_key, load_public_key
from service.signing.payload import simple_signing_payload
from service.signing.signer import attest_image, sign_image
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier
from tests.unit.signing.fake_registry import FakeRegistry

REPO = "team/app"
REF = "127.0.0.1:5000/team/app"


def _image(registry: FakeRegistry, body: bytes = b'{"schemaVersion":2}') -> str:
    return registry.put_manifest(REPO, "1.0", body, OCI_MANIFEST)


def _manifest(registry: FakeRegistry, digest: str, kind: Kind) -> dict[str, Any]:
    tag = attachment_tag(digest, kind)
    manifest: dict[str, Any] = json.loads(registry.get_manifest(REPO, tag).content)
    return manifest


def test_payload_bytes_match_cosign(fixtures: Path) -> None:
    real = (fixtures / "sigstore_rs_busybox.payload.json").read_bytes()
    ours = simple_signing_payload(
        "registry-testing.svc.lan/busybox",
        "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b",
    )
    assert ours == real


def test_payload_escapes_like_go() -> None:
    payload = simple_signing_payload(REF, "sha256:" + "0" * 64, {"b": "<&>", "a": "x\u2028"})
    assert payload.endswith(b'"optional":{"a":"x\\u2028","b":"\\u003c\\u0026\\u003e"}}')


def test_config_blob_matches_cosign_digest() -> None:
    # Layer and config digests of a real cosign .sig manifest (sigstore/sigstore-rs
    # and goharbor/harbor docs quote sha256:91a821a0… / config sha256:d4e6059e…, 233 bytes).
    layer = LayerDescriptor(
        SIMPLE_SIGNING_MEDIA_TYPE,
        "sha256:91a821a0e2412f1b99b07bfe176451bcc343568b761388718abbf38076048564",
        250,
    )
    config = config_blob([layer])
    assert len(config) == 233
    assert sha256_digest(config) == (
        "sha256:d4e6059ece7bea95266fd7766353130d4bf3dc21048b8a9783c98b8412618c38"
    )


def test_sign_stores_cosign_layout_and_verifies(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    store = AttachmentStore(fake_registry)
    assert sign_image(
        store,
        key,
        repository=REPO,
        docker_reference=REF,
        image_digest=digest,
        annotations={"env": "prod"},
    )
    manifest = _manifest(fake_registry, digest, Kind.SIGNATURE)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == OCI_MANIFEST
    config_desc = manifest["config"]
    assert config_desc["mediaType"] == OCI_CONFIG
    config = fake_registry.blobs[config_desc["digest"]]
    assert len(config) == config_desc["size"]
    [layer] = manifest["layers"]
    assert json.loads(config)["rootfs"] == {"type": "layers", "diff_ids": [layer["digest"]]}
    assert layer["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
    payload = fake_registry.blobs[layer["digest"]]
    assert layer["size"] == len(payload)
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": REF},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": {"env": "prod"},
    }
    ecdsa.verify(key.public_key(), payload, layer["annotations"][SIGNATURE_ANNOTATION])

    verified = ImageVerifier(fake_registry).verify_signatures(REPO, digest, key.public_key())
    assert [d["critical"]["image"]["docker-manifest-digest"] for d in verified.documents] == [
        digest
    ]


def test_second_key_appends_same_key_does_not_duplicate(fake_registry: FakeRegistry) -> None:
    first, second = generate_private_key(), generate_private_key()
    digest = _image(fake_registry)
    store = AttachmentStore(fake_registry)
    common: dict[str, Any] = {"repository": REPO, "docker_reference": REF, "image_digest": digest}
    assert sign_image(store, first, **common)
    assert not sign_image(store, first, **common)
    assert sign_image(store, second, **common)
    layers = _manifest(fake_registry, digest, Kind.SIGNATURE)["layers"]
    assert len(layers) == 2
    config = json.loads(
        fake_registry.blobs[_manifest(fake_registry, digest, Kind.SIGNATURE)["config"]["digest"]]
    )
    assert len(config["history"]) == 2 and len(config["rootfs"]["diff_ids"]) == 2
    verifier = ImageVerifier(fake_registry)
    for key in (first, second):
        assert len(verifier.verify_signatures(REPO, digest, key.public_key()).documents) == 1


def test_wrong_key_fails(fake_registry: FakeRegistry) -> None:
    digest = _image(fake_registry)
    sign_image(
        AttachmentStore(fake_registry),
        generate_private_key(),
        repository=REPO,
        docker_reference=REF,
        image_digest=digest,
    )
    with pytest.raises(VerificationError, match="does not verify"):
        ImageVerifier(fake_registry).verify_signatures(
            REPO, digest, generate_private_key().public_key()
        )


def test_unsigned_image_fails(fake_registry: FakeRegistry) -> None:
    digest = _image(fake_registry)
    with pytest.raises(VerificationError, match="no signature found"):
        ImageVerifier(fake_registry).verify_signatures(
            REPO, digest, generate_private_key().public_key()
        )


def _push_layers(
    registry: FakeRegistry, digest: str, kind: Kind, layers: list[tuple[bytes, dict[str, str], str]]
) -> None:
    descriptors = []
    for payload, layer_annotations, media_type in layers:
        registry.put_blob(REPO, payload)
        descriptors.append(
            LayerDescriptor(media_type, sha256_digest(payload), len(payload), layer_annotations)
        )
    config = config_blob(descriptors)
    registry.put_blob(REPO, config)
    registry.put_manifest(
        REPO, attachment_tag(digest, kind), manifest_bytes(config, descriptors), OCI_MANIFEST
    )


def test_real_cosign_signature_layer_verifies(fake_registry: FakeRegistry, fixtures: Path) -> None:
    payload = (fixtures / "sigstore_rs_busybox.payload.json").read_bytes()
    signature = (fixtures / "sigstore_rs_busybox.sig").read_text()
    digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    _push_layers(
        fake_registry,
        digest,
        Kind.SIGNATURE,
        [(payload, {SIGNATURE_ANNOTATION: signature}, SIMPLE_SIGNING_MEDIA_TYPE)],
    )
    verifier = ImageVerifier(fake_registry)
    good = load_public_key((fixtures / "sigstore_rs_busybox.pub").read_bytes())
    assert verifier.verify_signatures(REPO, digest, good).documents[0] == json.loads(payload)
    other = load_public_key((fixtures / "sigstore_rs_other.pub").read_bytes())
    with pytest.raises(VerificationError):
        verifier.verify_signatures(REPO, digest, other)


def test_real_signature_copied_to_another_image_fails(
    fake_registry: FakeRegistry, fixtures: Path
) -> None:
    payload = (fixtures / "sigstore_rs_busybox.payload.json").read_bytes()
    signature = (fixtures / "sigstore_rs_busybox.sig").read_text()
    other_image = _image(fake_registry)
    _push_layers(
        fake_registry,
        other_image,
        Kind.SIGNATURE,
        [(payload, {SIGNATURE_ANNOTATION: signature}, SIMPLE_SIGNING_MEDIA_TYPE)],
    )
    good = load_public_key((fixtures / "sigstore_rs_busybox.pub").read_bytes())
    with pytest.raises(VerificationError, match="names sha256:f3cfc9"):
        ImageVerifier(fake_registry).verify_signatures(REPO, other_image, good)


def test_tampered_payload_fails(fake_registry: FakeRegistry, fixtures: Path) -> None:
    payload = (
        (fixtures / "sigstore_rs_busybox.payload.json").read_bytes().replace(b"busybox", b"busyb0x")
    )
    signature = (fixtures / "sigstore_rs_busybox.sig").read_text()
    digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    _push_layers(
        fake_registry,
        digest,
        Kind.SIGNATURE,
        [(payload, {SIGNATURE_ANNOTATION: signature}, SIMPLE_SIGNING_MEDIA_TYPE)],
    )
    good = load_public_key((fixtures / "sigstore_rs_busybox.pub").read_bytes())
    with pytest.raises(VerificationError, match="does not verify"):
        ImageVerifier(fake_registry).verify_signatures(REPO, digest, good)


@pytest.mark.parametrize(
    ("signature", "reason"),
    [
        ("MEUCIQD6q/COgzOyW0YH1Dk+CCYSt4uAhm3FD", "base64"),  # truncated base64
        (base64.b64encode(b"\x30\x03\x02\x01").decode(), "does not verify"),  # invalid DER
        ("", "no dev.cosignproject.cosign/signature"),
        ("A" * 5000, "too long"),
    ],
)
def test_bad_signature_encodings_are_verification_errors(
    fake_registry: FakeRegistry, fixtures: Path, signature: str, reason: str
) -> None:
    payload = (fixtures / "sigstore_rs_busybox.payload.json").read_bytes()
    digest = "sha256:f3cfc9d0dbf931d3db4685ec659b7ac68e2a578219da4aae65427886e649b06b"
    _push_layers(
        fake_registry,
        digest,
        Kind.SIGNATURE,
        [(payload, {SIGNATURE_ANNOTATION: signature}, SIMPLE_SIGNING_MEDIA_TYPE)],
    )
    good = load_public_key((fixtures / "sigstore_rs_busybox.pub").read_bytes())
    with pytest.raises(VerificationError, match=reason):
        ImageVerifier(fake_registry).verify_signatures(REPO, digest, good)


def test_thousands_of_layers_are_capped(fake_registry: FakeRegistry) -> None:
    digest = _image(fake_registry)
    layer = LayerDescriptor(
        SIMPLE_SIGNING_MEDIA_TYPE, "sha256:" + "a" * 64, 10, {SIGNATURE_ANNOTATION: "x"}
    )
    layers = [layer] * 5000
    config = config_blob(layers)
    fake_registry.put_manifest(
        REPO, attachment_tag(digest, Kind.SIGNATURE), manifest_bytes(config, layers), OCI_MANIFEST
    )
    with pytest.raises(VerificationError, match="5000 layers"):
        ImageVerifier(fake_registry).verify_signatures(
            REPO, digest, generate_private_key().public_key()
        )


def test_oversized_blob_is_capped(fake_registry: FakeRegistry) -> None:
    digest = _image(fake_registry)
    big = b"x" * 2048
    _push_layers(
        fake_registry,
        digest,
        Kind.SIGNATURE,
        [(big, {SIGNATURE_ANNOTATION: "x"}, SIMPLE_SIGNING_MEDIA_TYPE)],
    )
    verifier = ImageVerifier(fake_registry, Limits(max_payload_bytes=1024))
    with pytest.raises(VerificationError, match="over the 1024-byte limit"):
        verifier.verify_signatures(REPO, digest, generate_private_key().public_key())


def test_attest_stores_dsse_and_verifies(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    predicate = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []}
    assert attest_image(
        AttachmentStore(fake_registry),
        key,
        repository=REPO,
        subject_name=REF,
        image_digest=digest,
        predicate_type=PREDICATE_TYPES["cyclonedx"],
        predicate=predicate,
    )
    manifest = _manifest(fake_registry, digest, Kind.ATTESTATION)
    [layer] = manifest["layers"]
    assert layer["mediaType"] == DSSE_MEDIA_TYPE
    assert layer["annotations"] == {
        SIGNATURE_ANNOTATION: "",
        "predicateType": "https://cyclonedx.org/bom",
    }
    raw = fake_registry.blobs[layer["digest"]]
    envelope_json = json.loads(raw)
    assert list(envelope_json) == ["payloadType", "payload", "signatures"]
    assert envelope_json["signatures"][0]["keyid"] == ""
    envelope = parse_envelope(raw)
    ecdsa.verify(
        key.public_key(), pae(envelope.payload_type, envelope.payload), envelope.signatures[0]
    )
    statement = json.loads(envelope.payload)
    assert list(statement) == ["_type", "predicateType", "subject", "predicate"]
    assert statement["_type"] == "https://in-toto.io/Statement/v0.1"
    assert statement["subject"] == [
        {"name": REF, "digest": {"sha256": digest.removeprefix("sha256:")}}
    ]
    assert statement["predicate"] == predicate

    verifier = ImageVerifier(fake_registry)
    found = verifier.verify_attestations(
        REPO, digest, key.public_key(), "https://cyclonedx.org/bom"
    )
    assert found.documents == (statement,)
    with pytest.raises(VerificationError, match="predicate type"):
        verifier.verify_attestations(REPO, digest, key.public_key(), "https://spdx.dev/Document")
    with pytest.raises(VerificationError):
        verifier.verify_attestations(REPO, digest, generate_private_key().public_key())


def test_real_dsse_envelope_verifies_over_pae(fixtures: Path) -> None:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(
        base64.b64decode((fixtures / "sigstore_rs_dsse_leaf_cert.b64").read_text())
    )
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    envelope = parse_envelope((fixtures / "sigstore_rs_dsse_envelope.json").read_bytes())
    envelope.verify(key)
    tampered = type(envelope)(envelope.payload_type, envelope.payload + b" ", envelope.signatures)
    with pytest.raises(VerificationError):
        tampered.verify(key)


def test_custom_predicate_wraps_data_with_timestamp() -> None:
    from datetime import UTC, datetime

    predicate = build_predicate(
        "custom", b"hello", clock=lambda: datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    )
    assert predicate == {"Data": "hello", "Timestamp": "2024-01-02T03:04:05Z"}


def test_payload_hash_is_layer_digest(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    sign_image(
        AttachmentStore(fake_registry),
        key,
        repository=REPO,
        docker_reference=REF,
        image_digest=digest,
    )
    [layer] = _manifest(fake_registry, digest, Kind.SIGNATURE)["layers"]
    assert (
        layer["digest"]
        == "sha256:" + hashlib.sha256(fake_registry.blobs[layer["digest"]]).hexdigest()
    )
