"""Key-signed cosign 3 bundles read as OCI 1.1 referrers through the Referrers API (fake).

The bundles are self-made with sigstore-models and a test key (see ``bundles.py``):
no cosign-made key-signed bundle exists in public test data.
"""

from __future__ import annotations

import base64
import json

import pytest

from service.errors import VerificationError
from service.signing.bundle import BUNDLE_MEDIA_TYPE, fetch_bundles, verify_bundle_with_key
from service.signing.cosign_layout import OCI_MANIFEST, Limits
from service.signing.keys import generate_private_key
from service.signing.verify import ImageVerifier
from tests.unit.signing.bundles import (
    dsse_bundle,
    message_signature_bundle,
    push_bundle_manifest,
    statement,
)
from tests.unit.signing.fake_registry import FakeRegistry

REPO = "team/app"


def _image(registry: FakeRegistry) -> str:
    return registry.put_manifest(REPO, "1.0", b'{"schemaVersion":2,"layers":[]}', OCI_MANIFEST)


def _refer(registry: FakeRegistry, image_digest: str, bundle: bytes) -> None:
    descriptor = push_bundle_manifest(registry, REPO, image_digest, bundle)
    registry.referrers.setdefault(image_digest, []).append(descriptor)


def test_message_signature_bundle_verifies_through_referrers_api(
    fake_registry: FakeRegistry,
) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    _refer(fake_registry, digest, message_signature_bundle(key, digest))

    verified = ImageVerifier(fake_registry).verify_signatures(REPO, digest, key.public_key())

    assert verified.documents == ({"messageDigest": digest},)
    assert verified.sources == ("bundle",)


def test_dsse_bundles_count_as_signature_or_attestation_by_predicate_type(
    fake_registry: FakeRegistry,
) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    sign_statement = statement(digest)
    bom_statement = statement(digest, "https://cyclonedx.org/bom", {"bomFormat": "CycloneDX"})
    _refer(fake_registry, digest, dsse_bundle(key, sign_statement))
    _refer(fake_registry, digest, dsse_bundle(key, bom_statement))
    verifier = ImageVerifier(fake_registry)

    signatures = verifier.verify_signatures(REPO, digest, key.public_key())
    boms = verifier.verify_attestations(REPO, digest, key.public_key(), "https://cyclonedx.org/bom")

    assert signatures.documents == (json.loads(sign_statement),)
    assert boms.documents == (json.loads(bom_statement),)


def test_bundle_of_another_key_or_image_is_rejected(fake_registry: FakeRegistry) -> None:
    key, other = generate_private_key(), generate_private_key()
    digest = _image(fake_registry)
    elsewhere = "sha256:" + "1" * 64
    _refer(fake_registry, digest, message_signature_bundle(other, digest))
    _refer(fake_registry, digest, dsse_bundle(key, statement(elsewhere)))
    _refer(fake_registry, digest, message_signature_bundle(key, elsewhere))

    with pytest.raises(VerificationError) as caught:
        ImageVerifier(fake_registry).verify_signatures(REPO, digest, key.public_key())

    text = str(caught.value)
    assert "does not verify with the given public key" in text
    assert f"not {digest}" in text
    assert f"signs {elsewhere}" in text


def test_tampered_bundle_payload_fails(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    document = json.loads(dsse_bundle(key, statement(digest)))
    forged = statement(digest, "https://example.com/other")
    document["dsseEnvelope"]["payload"] = base64.b64encode(forged).decode()
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        verify_bundle_with_key(json.dumps(document).encode(), key.public_key(), digest)


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"{}", b'{"mediaType":"x"}', json.dumps({"dsseEnvelope": 1}).encode()],
)
def test_malformed_bundles_are_verification_errors(raw: bytes) -> None:
    with pytest.raises(VerificationError):
        verify_bundle_with_key(raw, generate_private_key().public_key(), "sha256:" + "0" * 64)


def test_thousands_of_referrers_fail_clearly(fake_registry: FakeRegistry) -> None:
    digest = _image(fake_registry)
    fake_registry.referrers[digest] = [
        {"mediaType": OCI_MANIFEST, "digest": f"sha256:{n:064x}", "artifactType": BUNDLE_MEDIA_TYPE}
        for n in range(5000)
    ]
    with pytest.raises(VerificationError, match=r"5000 bundles refer to .* over the limit of 256"):
        ImageVerifier(fake_registry).verify_signatures(
            REPO, digest, generate_private_key().public_key()
        )


def test_unreadable_referrer_is_reported_not_fatal(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    missing = "sha256:" + "2" * 64
    fake_registry.referrers[digest] = [
        {"mediaType": OCI_MANIFEST, "digest": missing, "artifactType": BUNDLE_MEDIA_TYPE},
        {"mediaType": OCI_MANIFEST, "artifactType": BUNDLE_MEDIA_TYPE},
    ]
    _refer(fake_registry, digest, message_signature_bundle(key, digest))

    bundles, failures = fetch_bundles(fake_registry, REPO, digest, Limits())

    assert len(bundles) == 1
    assert failures[0].startswith(f"bundle {missing}:")
    assert failures[1] == "bundle: a referrer descriptor has no digest"
    verified = ImageVerifier(fake_registry).verify_signatures(REPO, digest, key.public_key())
    assert verified.documents == ({"messageDigest": digest},)


def test_oversized_bundle_layer_is_refused_before_download(fake_registry: FakeRegistry) -> None:
    key = generate_private_key()
    digest = _image(fake_registry)
    _refer(fake_registry, digest, message_signature_bundle(key, digest))
    limits = Limits(max_payload_bytes=64)

    bundles, failures = fetch_bundles(fake_registry, REPO, digest, limits)

    assert bundles == []
    assert "over the 64-byte limit" in failures[0]
