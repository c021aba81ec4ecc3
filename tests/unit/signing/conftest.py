from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.signing.fake_registry import FakeRegistry

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "cosign"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def fake_registry() -> FakeRegistry:
    return FakeRegistry()
