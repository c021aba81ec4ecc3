"""A command collects cyclic garbage rarely; the long-running ones as CPython does."""

from __future__ import annotations

import gc
import subprocess
import sys
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from service import garbage
from service.cli.main import app
from service.settings import get_settings


@pytest.fixture
def thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


def test_a_command_collects_rarely() -> None:
    """As the console script runs a command (the command replaced by a report)."""
    report = (
        "import gc, sys; from service.cli import main as cli; "
        "cli.app = lambda: sys.exit(print(gc.get_threshold())); cli.main()"
    )
    result = subprocess.run(
        [sys.executable, "-c", report], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "(200000, 30, 30)"


def test_a_long_running_process_goes_back_to_cpython_s_thresholds(thresholds: None) -> None:
    default = subprocess.run(
        [sys.executable, "-c", "import gc; print(gc.get_threshold())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    garbage.for_one_shot()
    garbage.for_long_running()
    assert str(gc.get_threshold()) == default


@pytest.mark.parametrize(
    ("command", "started"),
    [
        (["serve"], "uvicorn.Server.run"),
        (["worker"], "celery.Celery.worker_main"),
        (["beat"], "celery.Celery.start"),
    ],
)
def test_serve_worker_and_beat_run_with_cpython_s_thresholds(
    command: list[str], started: str, thresholds: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started as the command line starts them (the engine's run replaced)."""
    seen: list[tuple[int, int, int]] = []
    monkeypatch.setattr(started, lambda *args, **kwargs: seen.append(gc.get_threshold()))
    monkeypatch.setenv("TOLLGATE_BROKER_URL", "redis://127.0.0.1:6379/15")
    get_settings.cache_clear()
    garbage.for_one_shot()
    try:
        result = CliRunner().invoke(app, command)
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    garbage.for_long_running()
    assert seen == [gc.get_threshold()]
