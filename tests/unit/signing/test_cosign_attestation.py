"""DSSE attestations that real cosign wrote (``cosign attest-blob --key``), with their key.

``cosign attest-blob`` and ``cosign attest`` sign with the same DSSE wrapper, so the
envelope bytes are those an ``.att`` layer holds; only the subject is a blob, not an image.
The expected subject digest is computed here from the blob cosign's test attested.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import VerificationError
from service.signing.attestation import PREDICATE_TYPES
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
    SIGNATURE_ANNOTATION,
    Kind,
)
from service.signing.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, parse_envelope
from service.signing.keys import load_public_key
from service.signing.payload import IN_TOTO_STATEMENT_V01, parse_statement
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier
from tests.unit.signing.fake_registry import FakeRegistry

ENVELOPE = "cosign_attest_blob_slsa.dsse.json"
TWO_SUBJECTS = "cosign_attest_blob_two_subjects.dsse.json"
REPO = "team/blob"
# the blob cosign's TestVerifyBlobAttestation attests (`blobContents`)
SUBJECT_DIGEST = "sha256:" + hashlib.sha256(b"some-payload").hexdigest()


def _key(fixtures: Path, name: str = "cosign_attest_blob.pub") -> ec.EllipticCurvePublicKey:
    return load_public_key((fixtures / name).read_bytes())


def _envelope(fixtures: Path, name: str = ENVELOPE) -> Envelope:
    return parse_envelope((fixtures / name).read_bytes())


@pytest.mark.parametrize("name", [ENVELOPE, TWO_SUBJECTS])
def test_real_cosign_envelope_verifies_with_its_key(fixtures: Path, name: str) -> None:
    envelope = _envelope(fixtures, name)
    assert envelope.payload_type == IN_TOTO_PAYLOAD_TYPE
    envelope.verify(_key(fixtures))


def test_real_cosign_statement_parses(fixtures: Path) -> None:
    statement = parse_statement(_envelope(fixtures).payload)
    assert statement.document["_type"] == IN_TOTO_STATEMENT_V01
    assert statement.subject_digests == (SUBJECT_DIGEST,)
    # cosign's `--type slsaprovenance` URI, as our table names it
    assert statement.predicate_type == PREDICATE_TYPES["slsaprovenance"]
    two = parse_statement(_envelope(fixtures, TWO_SUBJECTS).payload)
    assert SUBJECT_DIGEST in two.subject_digests
    assert len(two.subject_digests) == 2


def test_cosign_envelope_serialization_is_reproduced(fixtures: Path) -> None:
    raw = (fixtures / ENVELOPE).read_bytes()
    assert _envelope(fixtures).to_json() == raw


def test_another_key_fails(fixtures: Path) -> None:
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        _envelope(fixtures).verify(_key(fixtures, "sigstore_rs_other.pub"))


def test_tampered_payload_fails(fixtures: Path) -> None:
    envelope = _envelope(fixtures)
    forged = envelope.payload.replace(b'"id":"2"', b'"id":"3"')
    assert forged != envelope.payload
    with pytest.raises(VerificationError):
        Envelope(envelope.payload_type, forged, envelope.signatures).verify(_key(fixtures))


def test_changed_payload_type_fails(fixtures: Path) -> None:
    envelope = _envelope(fixtures)
    with pytest.raises(VerificationError):
        Envelope("application/json", envelope.payload, envelope.signatures).verify(_key(fixtures))


def _attach(registry: FakeRegistry, envelope_bytes: bytes, predicate_type: str) -> None:
    """Store the envelope as cosign stores an ``.att`` layer (empty signature annotation)."""
    AttachmentStore(registry).attach(
        REPO,
        SUBJECT_DIGEST,
        Kind.ATTESTATION,
        media_type=DSSE_MEDIA_TYPE,
        payload=envelope_bytes,
        annotations={SIGNATURE_ANNOTATION: "", PREDICATE_TYPE_ANNOTATION: predicate_type},
    )


def test_real_envelope_in_att_layer_verifies(fake_registry: FakeRegistry, fixtures: Path) -> None:
    raw = (fixtures / ENVELOPE).read_bytes()
    slsa = PREDICATE_TYPES["slsaprovenance"]
    _attach(fake_registry, raw, slsa)
    verifier = ImageVerifier(fake_registry)
    verified = verifier.verify_attestations(REPO, SUBJECT_DIGEST, _key(fixtures), slsa)
    assert verified.documents == (json.loads(_envelope(fixtures).payload),)
    with pytest.raises(VerificationError, match="predicate type"):
        verifier.verify_attestations(
            REPO, SUBJECT_DIGEST, _key(fixtures), PREDICATE_TYPES["custom"]
        )
    with pytest.raises(VerificationError, match="no DSSE signature verifies"):
        verifier.verify_attestations(REPO, SUBJECT_DIGEST, _key(fixtures, "sigstore_rs_other.pub"))


def test_tampered_envelope_in_att_layer_fails(fake_registry: FakeRegistry, fixtures: Path) -> None:
    document = json.loads((fixtures / ENVELOPE).read_bytes())
    statement = json.loads(base64.b64decode(document["payload"]))
    statement["predicate"]["builder"]["id"] = "attacker"
    document["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    _attach(fake_registry, json.dumps(document).encode(), statement["predicateType"])
    with pytest.raises(
        VerificationError, match=r"no valid attestation.*no DSSE signature verifies"
    ):
        ImageVerifier(fake_registry).verify_attestations(REPO, SUBJECT_DIGEST, _key(fixtures))


def test_real_envelope_attached_to_another_image_fails(
    fake_registry: FakeRegistry, fixtures: Path
) -> None:
    other = "sha256:" + hashlib.sha256(b"another-blob").hexdigest()
    AttachmentStore(fake_registry).attach(
        REPO,
        other,
        Kind.ATTESTATION,
        media_type=DSSE_MEDIA_TYPE,
        payload=(fixtures / ENVELOPE).read_bytes(),
        annotations={SIGNATURE_ANNOTATION: ""},
    )
    with pytest.raises(VerificationError, match="subject is not"):
        ImageVerifier(fake_registry).verify_attestations(REPO, other, _key(fixtures))
