"""Run the real ``tollgate`` CLI as a subprocess and check its error contract.

The contract for bad input (issue 2): exit status 2, exactly one line on stderr
(no traceback, no log noise) that names the problem, and no output file (nor a
temp file beside it).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

TOLLGATE = [sys.executable, "-m", "service.cli"]
REPO_ROOT = Path(__file__).resolve().parents[2]
PROGRESS_LINE = re.compile(r"^pulled [0-9a-f]{12} \([0-9.]+ MB\)$")


def run_tollgate(
    args: list[str],
    data_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    timeout: float = 300,
    cwd: Path = REPO_ROOT,
) -> subprocess.CompletedProcess[str]:
    """``tollgate ARGS`` with its own data dir, run in ``cwd``; ``env`` adds or overrides
    variables."""
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("TOLLGATE_")
    }
    environment.update(
        {"TOLLGATE_DATA_DIR": str(data_dir), "PYTHONPATH": str(REPO_ROOT), **(env or {})}
    )
    return subprocess.run(
        [*TOLLGATE, *args],
        env=environment,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def fake_syft(directory: Path, scan_body: str) -> Path:
    """A stand-in ``syft`` in ``directory``: answers ``syft version``, runs the shell
    ``scan_body`` for anything else."""
    script = directory / "fake-syft"
    version = '{"application":"syft","version":"0.0.0-fake"}'
    script.write_text(
        f"#!/bin/sh\nif [ \"$1\" = version ]; then echo '{version}'; exit 0; fi\n{scan_body}\n"
    )
    script.chmod(0o755)
    return script


def assert_clean_failure(
    run: subprocess.CompletedProcess[str], output: Path, *phrases: str, pulled: bool = False
) -> str:
    """Exit 2, one ``tollgate: error:`` line holding every phrase, no output left behind.

    ``pulled``: the image was fetched before the failure, so ``pulled <blob>`` progress
    lines may precede the error; nothing else may. Phrases are compared
    case-insensitively; returns the error line.
    """
    assert run.returncode == 2, f"exit {run.returncode}; stderr:\n{run.stderr}"
    *before, line = run.stderr.splitlines() or [""]
    noise = [text for text in before if not (pulled and PROGRESS_LINE.match(text))]
    assert not noise, f"expected one stderr line, got:\n{run.stderr}"
    assert line.startswith("tollgate: error: "), line
    assert "Traceback" not in line
    for phrase in phrases:
        assert phrase.lower() in line.lower(), f"{phrase!r} not in {line!r}"
    assert not output.exists(), f"{output} was written"
    leftovers = [p.name for p in output.parent.iterdir() if p.name.startswith(f".{output.name}.")]
    assert not leftovers, f"temp files left beside the output: {leftovers}"
    return line
