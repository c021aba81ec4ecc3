"""Shared fixtures: a real local registry and real test images pushed to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.images import PushedImage, debian_app_layout, push_layout
from tests.support.registry import LocalRegistry
from tests.unit.signing.keyless_pki import SelfMadeSigstore


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A Distribution registry on 127.0.0.1:<free port>, shared by the whole session.

    Tests must use their own repository names so they do not see each other's pushes.
    """
    with LocalRegistry(tmp_path_factory.mktemp("registry")) as running:
        yield running


@pytest.fixture(scope="session")
def debian_app_image(registry: LocalRegistry) -> PushedImage:
    """Debian 12 minbase + PyPI wheels + npm app, pushed as ``tollgate-test/debian-app:1``.

    Built from real packages on first use (~20 s, then cached under ``.cache/test-images``).
    ``.layout`` is a shared cache directory: copy it before changing anything in it.
    """
    return push_layout(debian_app_layout(), registry.host, "tollgate-test/debian-app")


@pytest.fixture
def sigstore() -> SelfMadeSigstore:
    """A root CA, an intermediate and a Rekor key of the test's own: keyless, no Sigstore."""
    return SelfMadeSigstore()


@pytest.fixture
def root(sigstore: SelfMadeSigstore, tmp_path: Path) -> Path:
    """``sigstore``'s trusted_root.json."""
    return sigstore.trusted_root(tmp_path / "trusted_root.json")
