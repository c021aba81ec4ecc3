"""Keyless verification of a REAL production Sigstore bundle, offline.

``sigstore_python_github_whl.sigstore.json`` is a message-signature bundle made by a
GitHub Actions release workflow (Fulcio certificate, Rekor v1 entry with inclusion
proof); it chains to ``sigstore_production_trusted_root.json``.  Its signed digest
stands in for an image digest: cosign 3 message-signature bundles sign the image's
manifest digest the same way.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from service.errors import SigningError, VerificationError
from service.signing.keyless import KeylessPolicy, KeylessVerifier
from service.signing.keys import generate_private_key
from service.signing.verify import ImageVerifier
from tests.unit.signing.bundles import message_signature_bundle, push_bundle_manifest
from tests.unit.signing.fake_registry import FakeRegistry

IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
ISSUER = "https://token.actions.githubusercontent.com"
BUNDLE = "sigstore_python_github_whl.sigstore.json"


def _signed_digest(raw: bytes) -> str:
    digest = json.loads(raw)["messageSignature"]["messageDigest"]["digest"]
    return "sha256:" + base64.b64decode(digest).hex()


@pytest.fixture
def real_bundle(fixtures: Path) -> bytes:
    return (fixtures / BUNDLE).read_bytes()


@pytest.fixture
def production_root(fixtures: Path) -> Path:
    return fixtures / "sigstore_production_trusted_root.json"


def test_real_bundle_verifies_with_identity_and_issuer(
    real_bundle: bytes, production_root: Path
) -> None:
    digest = _signed_digest(real_bundle)
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))

    verified = verifier.verify(real_bundle, digest)

    assert verified.message_digest == digest
    assert verified.statement is None


@pytest.mark.parametrize(
    ("identity", "issuer"),
    [
        (IDENTITY.replace("v0.1.2", "v0.1.3"), ISSUER),
        ("someone@example.com", ISSUER),
        (IDENTITY, "https://accounts.google.com"),
    ],
)
def test_wrong_identity_or_issuer_fails(
    real_bundle: bytes, production_root: Path, identity: str, issuer: str
) -> None:
    verifier = KeylessVerifier(KeylessPolicy(production_root, identity, issuer))
    with pytest.raises(VerificationError, match="keyless verification failed"):
        verifier.verify(real_bundle, _signed_digest(real_bundle))


def test_tampered_artifact_fails(real_bundle: bytes, production_root: Path) -> None:
    digest = _signed_digest(real_bundle)
    tampered = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="digest mismatch"):
        verifier.verify(real_bundle, tampered)


def test_tampered_signature_fails(real_bundle: bytes, production_root: Path) -> None:
    document = json.loads(real_bundle)
    signature = bytearray(base64.b64decode(document["messageSignature"]["signature"]))
    signature[-1] ^= 1
    document["messageSignature"]["signature"] = base64.b64encode(bytes(signature)).decode()
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError):
        verifier.verify(json.dumps(document).encode(), _signed_digest(real_bundle))


def test_wrong_trusted_root_fails(real_bundle: bytes, fixtures: Path) -> None:
    staging = fixtures / "sigstore_staging_trusted_root.json"
    verifier = KeylessVerifier(KeylessPolicy(staging, IDENTITY, ISSUER))
    with pytest.raises(VerificationError, match="keyless verification failed"):
        verifier.verify(real_bundle, _signed_digest(real_bundle))


def test_unusable_trusted_root_is_a_clear_error(tmp_path: Path, fixtures: Path) -> None:
    with pytest.raises(SigningError, match="cannot read the trusted root"):
        KeylessVerifier(KeylessPolicy(tmp_path / "absent.json", IDENTITY, ISSUER))
    not_a_root = fixtures / BUNDLE
    with pytest.raises(SigningError, match="is not a Sigstore trusted root"):
        KeylessVerifier(KeylessPolicy(not_a_root, IDENTITY, ISSUER))


@pytest.mark.parametrize("raw", [b"", b"{}", b"[]", b'{"mediaType": 1}'])
def test_malformed_bundle_is_a_verification_error(raw: bytes, production_root: Path) -> None:
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError):
        verifier.verify(raw, "sha256:" + "0" * 64)


def test_key_signed_bundle_is_not_accepted_keyless(production_root: Path) -> None:
    digest = "sha256:" + "ab" * 32
    raw = message_signature_bundle(generate_private_key(), digest)
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))
    with pytest.raises(VerificationError):
        verifier.verify(raw, digest)


def test_image_verifier_reads_real_bundle_as_referrer(
    fake_registry: FakeRegistry, real_bundle: bytes, production_root: Path
) -> None:
    digest = _signed_digest(real_bundle)
    descriptor = push_bundle_manifest(fake_registry, "team/app", digest, real_bundle)
    fake_registry.referrers[digest] = [descriptor]
    verifier = KeylessVerifier(KeylessPolicy(production_root, IDENTITY, ISSUER))

    verified = ImageVerifier(fake_registry).verify_signatures_keyless("team/app", digest, verifier)

    assert verified.documents == ({"messageDigest": digest},)
