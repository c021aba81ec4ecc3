from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.signing.fake_registry import FakeRegistry
from tests.unit.signing.keyless_pki import SelfMadeSigstore

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cosign"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def fake_registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def sigstore() -> SelfMadeSigstore:
    return SelfMadeSigstore()


@pytest.fixture
def root(sigstore: SelfMadeSigstore, tmp_path: Path) -> Path:
    return sigstore.trusted_root(tmp_path / "trusted_root.json")
