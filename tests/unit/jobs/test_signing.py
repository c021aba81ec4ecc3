from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.image.reference import parse_reference
from service.signing.keyring import SigningKey
from service.signing.service_signer import ServiceSigner
from tests.unit.jobs.fakes import FakeSource


def _unused_registry(host: str):
    raise AssertionError(f"no registry access expected ({host})")


@pytest.mark.parametrize(
    ("reference", "signed"),
    [
        ("127.0.0.1:5000/prod/api:1", True),
        ("127.0.0.1:5000/prod/team/api:1", True),  # fnmatch's * crosses slashes
        ("registry.example/base/debian:12", True),  # matched as registry/repository
        ("127.0.0.1:5000/base/debian:12", False),
        ("127.0.0.1:5000/dev/api:1", False),
    ],
)
def test_only_images_in_the_configured_repositories_are_signed(
    tmp_path: Path, reference: str, signed: bool
):
    key = SigningKey("sha256:test", ec.generate_private_key(ec.SECP256R1()))
    signer = ServiceSigner(key, ["prod/*", "registry.example/base/*"], _unused_registry)
    image = FakeSource(tmp_path).fetch(parse_reference(reference))
    assert signer.applies(image) is signed


def test_nothing_is_signed_without_repositories(tmp_path: Path):
    key = SigningKey("sha256:test", ec.generate_private_key(ec.SECP256R1()))
    image = FakeSource(tmp_path).fetch(parse_reference("127.0.0.1:5000/prod/api:1"))
    assert not ServiceSigner(key, [], _unused_registry).applies(image)
