"""One-shot commands end without interpreter teardown, unless a profiler or tracer runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def _tollgate(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=60, check=False
    )


def test_output_is_complete_and_the_status_kept() -> None:
    run = _tollgate("-m", "service.cli", "--help")
    assert run.returncode == 0
    assert "Usage:" in run.stdout and "token" in run.stdout  # the last command listed
    assert _tollgate("-m", "service.cli", "sbom").returncode == 2  # usage error


def test_the_version_is_printed() -> None:
    from service import __version__

    run = _tollgate("-m", "service.cli", "--version")
    assert run.returncode == 0 and run.stdout == f"tollgate {__version__}\n"


def test_a_profiler_still_gets_to_write_its_data(tmp_path: Path) -> None:
    profile = tmp_path / "tollgate.prof"
    run = _tollgate("-m", "cProfile", "-o", str(profile), "-m", "service.cli", "--help")
    assert run.returncode == 0
    assert profile.stat().st_size > 0
