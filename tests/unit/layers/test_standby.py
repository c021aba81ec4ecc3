"""A layer-reading child started ahead for a large image archive: taken by the first read
that needs a child, replaced if it ended meanwhile, stopped at exit if never used."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.layers import standby


@pytest.fixture(autouse=True)
def no_child_left() -> Iterator[None]:
    yield
    standby._standby.dismiss()


def _archive(tmp_path: Path, size: int) -> Path:
    path = tmp_path / "image.tar"
    with path.open("wb") as file:
        file.truncate(size)  # sparse: its size is all that is looked at
    return path


def test_a_large_archive_gets_a_child_ahead_which_the_first_read_takes(tmp_path: Path) -> None:
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE))
    ahead = standby._standby.take()
    assert ahead is not None and ahead.poll() is None
    standby._standby._ready = ahead  # as it was
    assert standby.take() is ahead
    spawned = standby.take()  # none left ahead: a new one
    assert spawned is not ahead
    for process in (ahead, spawned):
        process.kill()
        process.communicate()


def test_small_or_missing_archives_and_one_core_get_no_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE - 1))
    standby.stand_by_for(tmp_path / "missing.tar")
    assert standby._standby.take() is None
    monkeypatch.setattr(standby.os, "cpu_count", lambda: 1)
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE))
    assert standby._standby.take() is None


def test_a_child_ahead_that_ended_is_replaced_and_one_never_used_is_stopped(
    tmp_path: Path,
) -> None:
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE))
    ahead = standby._standby.take()
    assert ahead is not None
    ahead.kill()
    ahead.wait()
    standby._standby._ready = ahead
    replacement = standby.take()
    assert replacement is not ahead and replacement.poll() is None
    standby._standby._ready = replacement
    standby._standby.dismiss()  # as at exit
    assert replacement.returncode is not None
