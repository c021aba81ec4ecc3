from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.engine import Engine

from policies.loader import parse_bundle
from service.errors import ConfigurationError
from service.image.model import PinnedImage
from service.image.reference import parse_reference
from service.jobs.scan import JobResult
from service.registry.interface import Registry
from service.settings import KeylessIdentity, Settings
from service.signing.attestation import PREDICATE_TYPES
from service.signing.checker import SignatureChecker
from service.signing.keyring import SigningKey, fingerprint
from service.signing.keys import generate_private_key, public_key_pem
from service.signing.service_signer import ServiceSigner
from service.signing.signer import attest_image, sign_image
from service.signing.store import AttachmentStore
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from tests.unit.jobs.conftest import RecordingNotifier, make_job
from tests.unit.jobs.fakes import FakeSource
from tests.unit.jobs.test_jobs import REGISTRY, request
from tests.unit.signing.fake_registry import FakeRegistry

# The tiny fake images have no findings worth blocking: only the signature rule decides.
SIGNED_BY_CI_BUNDLE = """
name: default
default: gate
policies:
  - name: gate
    rules:
      - {id: signed, type: required_signature, action: block, keys: [ci]}
"""


@pytest.fixture
def fake_registry() -> FakeRegistry:
    return FakeRegistry()


def _sign(registry: FakeRegistry, key: ec.EllipticCurvePrivateKey, image: PinnedImage) -> None:
    ref = image.reference
    assert ref.repository
    sign_image(
        AttachmentStore(registry),
        key,
        repository=ref.repository,
        docker_reference=f"{ref.registry}/{ref.repository}",
        image_digest=image.digest,
    )


def _attest_sbom(registry: FakeRegistry, key: ec.EllipticCurvePrivateKey, image: PinnedImage):
    ref = image.reference
    assert ref.repository
    attest_image(
        AttachmentStore(registry),
        key,
        repository=ref.repository,
        subject_name=f"{ref.registry}/{ref.repository}",
        image_digest=image.digest,
        predicate_type=PREDICATE_TYPES["cyclonedx"],
        predicate={"bomFormat": "CycloneDX", "components": []},
    )


def _image(tmp_path: Path, reference: str) -> PinnedImage:
    return FakeSource(tmp_path).fetch(parse_reference(reference))


def _no_registry(host: str) -> Registry:
    raise AssertionError(f"no registry access expected ({host})")


def test_signatures_are_reported_by_the_configured_key_name(
    tmp_path: Path, fake_registry: FakeRegistry
):
    ci, release = generate_private_key(), generate_private_key()
    checker = SignatureChecker(
        lambda host: fake_registry,
        {"ci": ci.public_key(), "release": release.public_key()},
    )
    signed = _image(tmp_path, f"{REGISTRY}/apps/api:1")
    _sign(fake_registry, ci, signed)
    _attest_sbom(fake_registry, ci, signed)

    status = checker.status(signed)
    assert status.signed_by == ("ci",)
    assert status.attestations == (PREDICATE_TYPES["cyclonedx"],)
    unsigned = checker.status(_image(tmp_path, f"{REGISTRY}/apps/other:1"))
    assert unsigned.signed_by == () and unsigned.attestations == ()


def test_a_signature_by_an_unconfigured_key_does_not_count(
    tmp_path: Path, fake_registry: FakeRegistry
):
    image = _image(tmp_path, f"{REGISTRY}/apps/api:1")
    _sign(fake_registry, generate_private_key(), image)
    checker = SignatureChecker(
        lambda host: fake_registry, {"ci": generate_private_key().public_key()}
    )
    assert checker.status(image).signed_by == ()


def test_nothing_to_verify_or_no_registry_means_no_registry_access(tmp_path: Path):
    registry_image = _image(tmp_path, f"{REGISTRY}/apps/api:1")
    assert SignatureChecker(_no_registry, {}).status(registry_image).signed_by == ()
    local = _image(tmp_path, f"oci-dir:{tmp_path / 'layout'}:1")
    checker = SignatureChecker(_no_registry, {"ci": generate_private_key().public_key()})
    assert checker.status(local).signed_by == ()


def test_the_service_key_is_checked_with_the_configured_keys(
    tmp_path: Path, fake_registry: FakeRegistry
):
    ci, service = generate_private_key(), generate_private_key()
    (tmp_path / "ci.pub").write_bytes(public_key_pem(ci.public_key()))
    settings = Settings(data_dir=tmp_path, verify_keys={"ci": tmp_path / "ci.pub"})
    service_key = SigningKey(fingerprint(service.public_key()), service)
    checker = SignatureChecker.from_settings(settings, lambda host: fake_registry, service_key)
    image = _image(tmp_path, f"{REGISTRY}/apps/api:1")
    _sign(fake_registry, ci, image)
    _sign(fake_registry, service, image)
    assert sorted(checker.status(image).signed_by) == sorted(["ci", service_key.key_id])


@pytest.mark.parametrize("content", [None, b"not a key"])
def test_an_unusable_verification_key_is_a_configuration_error(
    tmp_path: Path, content: bytes | None
):
    path = tmp_path / "ci.pub"
    if content is not None:
        path.write_bytes(content)
    settings = Settings(data_dir=tmp_path, verify_keys={"ci": path})
    with pytest.raises(ConfigurationError, match="verification key 'ci'"):
        SignatureChecker.from_settings(settings, _no_registry)


def test_verification_settings_are_read_from_json_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    identity = {"identity": "https://ci.example/build", "issuer": "https://issuer.example"}
    monkeypatch.setenv("TOLLGATE_VERIFY_KEYS", json.dumps({"ci": "/keys/ci.pub"}))
    monkeypatch.setenv("TOLLGATE_KEYLESS_IDENTITIES", json.dumps([identity]))
    monkeypatch.setenv("TOLLGATE_TRUSTED_ROOT", str(tmp_path / "trusted_root.json"))
    settings = Settings.from_env(data_dir=tmp_path)
    assert settings.verify_keys == {"ci": Path("/keys/ci.pub")}
    assert settings.keyless_identities == [KeylessIdentity(**identity)]
    assert settings.trusted_root == tmp_path / "trusted_root.json"


def test_keyless_identities_need_a_trusted_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    identity = {"identity": "https://ci.example/build", "issuer": "https://issuer.example"}
    monkeypatch.setenv("TOLLGATE_KEYLESS_IDENTITIES", json.dumps([identity]))
    with pytest.raises(ConfigurationError, match="TOLLGATE_TRUSTED_ROOT"):
        Settings.from_env(data_dir=tmp_path)


@pytest.mark.parametrize("name", ["", "keyless:ci", "my key"])
def test_verification_key_names_are_plain_words(tmp_path: Path, name: str):
    with pytest.raises(ConfigurationError, match="TOLLGATE_VERIFY_KEYS"):
        Settings(data_dir=tmp_path, verify_keys={name: tmp_path / "ci.pub"})


def _apply(engine: Engine, text: str) -> None:
    PolicyStore(engine).apply(
        parse_bundle(text, source="tests"), author="tests", now=datetime.now(UTC)
    )


def test_a_scan_decides_on_and_stores_the_verified_signers(
    engine: Engine, source: FakeSource, tmp_path: Path, fake_registry: FakeRegistry
):
    _apply(engine, SIGNED_BY_CI_BUNDLE)
    ci = generate_private_key()
    checker = SignatureChecker(lambda host: fake_registry, {"ci": ci.public_key()})
    job = make_job(engine, source, tmp_path / "cache", RecordingNotifier(), checker)
    signed_ref, unsigned_ref = f"{REGISTRY}/apps/bash:1", f"{REGISTRY}/apps/zlib:1"
    _sign(fake_registry, ci, source.fetch(parse_reference(signed_ref)))

    scans, images = ScanStore(engine), ImageStore(engine)
    outcomes = {}
    for reference in (signed_ref, unsigned_ref):
        scan, _ = scans.submit(request(reference))
        assert job.run(scan.id) is JobResult.DONE
        outcomes[reference] = images.get(scans.get(scan.id).digest or "")

    signed, unsigned = outcomes[signed_ref], outcomes[unsigned_ref]
    assert signed.signatures.signed_by == ("ci",) and signed.policy_outcome == "pass"
    assert unsigned.signatures.signed_by == () and unsigned.policy_outcome == "block"
    fired = PolicyStore(engine).decisions(unsigned.digest)[-1]
    assert [r.rule_id for r in fired.fired] == ["signed"]


def test_the_service_signature_adds_to_the_verified_signers(
    engine: Engine, source: FakeSource, tmp_path: Path, fake_registry: FakeRegistry
):
    _apply(engine, SIGNED_BY_CI_BUNDLE)
    ci, service = generate_private_key(), generate_private_key()
    service_key = SigningKey(fingerprint(service.public_key()), service)
    keys = {"ci": ci.public_key(), service_key.key_id: service_key.public_key}
    job = make_job(
        engine,
        source,
        tmp_path / "cache",
        RecordingNotifier(),
        SignatureChecker(lambda host: fake_registry, keys),
        ServiceSigner(service_key, ["apps/*"], lambda host: fake_registry),
    )
    reference = f"{REGISTRY}/apps/bash:1"
    _sign(fake_registry, ci, source.fetch(parse_reference(reference)))

    scan, _ = ScanStore(engine).submit(request(reference))
    assert job.run(scan.id) is JobResult.DONE
    image = ImageStore(engine).get(ScanStore(engine).get(scan.id).digest or "")
    assert image.policy_outcome == "pass"
    assert sorted(image.signatures.signed_by) == sorted(["ci", service_key.key_id])
    assert PREDICATE_TYPES["cyclonedx"] in image.signatures.attestations


def test_an_unreadable_trusted_root_is_a_configuration_error(tmp_path: Path):
    root = tmp_path / "trusted_root.json"
    root.write_text("{}")
    settings = Settings(
        data_dir=tmp_path,
        keyless_identities=[
            KeylessIdentity(identity="https://ci.example/b", issuer="https://id.example")
        ],
        trusted_root=root,
    )
    with pytest.raises(ConfigurationError, match="TOLLGATE_TRUSTED_ROOT"):
        SignatureChecker.from_settings(settings, _no_registry)
