"""The engine subprocess runner, with real child processes (Python as the 'engine')."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from service.catalog.process import EngineProcess, resolve_binary
from service.errors import (
    EngineError,
    EngineNotFoundError,
    EngineTimeoutError,
    UnsafeArchiveError,
)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_REGISTRY_AUTH", '{"r": {"password": "hunter2"}}')
    monkeypatch.setenv("DOCKER_CONFIG", "/root/.docker")
    with EngineProcess("py", timeout=60, env={"SYFT_CHECK_FOR_APP_UPDATE": "false"}) as process:
        raw = process.run(_python("import json, os; print(json.dumps(dict(os.environ)))"))
        workspace = process.root
    seen = json.loads(raw)
    assert set(seen) - {"LC_CTYPE"} == {"PATH", "HOME", "TMPDIR", "SYFT_CHECK_FOR_APP_UPDATE"}
    assert Path(seen["HOME"]).is_relative_to(workspace)
    assert Path(seen["TMPDIR"]).is_relative_to(workspace)
    assert not workspace.exists()


def test_non_zero_exit_reports_the_end_of_stderr() -> None:
    code = "import sys; [print(f'line {i}', file=sys.stderr) for i in range(100)]; sys.exit(3)"
    with EngineProcess("py", timeout=60) as process, pytest.raises(EngineError) as failure:
        process.run(_python(code))
    assert "status 3" in str(failure.value)
    assert "line 99" in str(failure.value)
    assert "line 0 " not in str(failure.value)


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    with EngineProcess("py", timeout=2, hint="x") as process, pytest.raises(EngineTimeoutError):
        process.run(_python(code))
    grandchild = int(pid_file.read_text())
    # the grandchild was killed with the group; it may linger only as a zombie
    try:
        os.kill(grandchild, 0)
        state = Path(f"/proc/{grandchild}/stat").read_text().split()[2]
        assert state == "Z"
    except (ProcessLookupError, FileNotFoundError):
        pass


def test_engine_unpacking_past_the_disk_limit_is_stopped() -> None:
    """A decompression bomb: the engine keeps writing into its TMPDIR until killed."""
    code = (
        "import os, time\n"
        "with open(os.path.join(os.environ['TMPDIR'], 'layer.tar'), 'wb') as out:\n"
        "    while True:\n"
        "        out.write(os.urandom(1 << 20)); out.flush(); time.sleep(0.01)\n"
    )
    with (
        EngineProcess("py", timeout=120, disk_limit=8 << 20) as process,
        pytest.raises(UnsafeArchiveError, match="decompression bomb") as failure,
    ):
        process.run(_python(code))
    assert "TOLLGATE_ENGINE_MAX_DISK_GB" in str(failure.value)


def test_engine_within_the_disk_limit_runs_normally() -> None:
    code = (
        "import os\n"
        "open(os.path.join(os.environ['TMPDIR'], 'small'), 'wb').write(b'x' * 4096)\n"
        "print('done')\n"
    )
    with EngineProcess("py", timeout=60, disk_limit=8 << 20) as process:
        assert process.run(_python(code)).strip() == b"done"


def test_missing_binary() -> None:
    with (
        EngineProcess("nothere", timeout=5, hint="install it") as process,
        pytest.raises(EngineNotFoundError, match="install it"),
    ):
        process.run(["/nonexistent/engine", "version"])
    with pytest.raises(EngineNotFoundError, match="TOLLGATE_TRIVY_PATH"):
        resolve_binary("trivy", "/nonexistent/trivy", hint="set TOLLGATE_TRIVY_PATH")


def test_binary_next_to_python_is_found() -> None:
    beside = Path(sys.executable).parent / "python"
    assert resolve_binary("python", None, hint="") == str(beside)
