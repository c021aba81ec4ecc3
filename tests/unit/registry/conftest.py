from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.unit.registry.helper_programs import Helpers


@pytest.fixture
def helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Helpers:
    """Credential helper programs in a directory put first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return Helpers(bin_dir)
