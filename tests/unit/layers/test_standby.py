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
    assert standby.take("sha256:a", b"") is ahead
    spawned = standby.take("sha256:b", b"")  # none left ahead: a new one
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
    replacement = standby.take("sha256:a", b"")
    assert replacement is not ahead and replacement.poll() is None
    standby._standby._ready = replacement
    standby._standby.dismiss()  # as at exit
    assert replacement.returncode is not None


def test_a_read_given_ahead_is_taken_by_its_digest_and_stopped_if_never_taken(
    tmp_path: Path,
) -> None:
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE))
    ahead = standby._standby._ready
    assert ahead is not None
    standby.read_ahead("sha256:a", b"")
    assert standby._standby._ready is None  # given: no longer standing by
    other = standby.take("sha256:b", b"")  # another layer: a child of its own
    assert other is not ahead
    assert standby.take("sha256:a", b"") is ahead
    standby.read_ahead("sha256:c", b"")  # nothing stands by: nothing is given
    assert not standby._standby._ahead
    for process in (ahead, other):
        process.communicate()
    standby.stand_by_for(_archive(tmp_path, standby.MIN_SIZE))
    untaken = standby._standby._ready
    assert untaken is not None
    standby.read_ahead("sha256:d", b"")
    standby._standby.dismiss()  # as at exit: asked to end
    assert untaken.returncode is not None and not standby._standby._ahead


@pytest.mark.parametrize(
    ("arguments", "stands_by"),
    [
        (["sbom", "docker-archive:{archive}"], True),
        (["-v", "scan", "--policy", "default", "docker-archive:{archive}"], True),
        (["sbom", "oci-dir:{archive}"], False),
        (["db", "docker-archive:{archive}"], False),
        (["sbom", "docker-archive:{missing}"], False),
        ([], False),
    ],
)
def test_a_command_on_a_large_archive_stands_a_child_by_before_it_is_parsed(
    tmp_path: Path, arguments: list[str], stands_by: bool
) -> None:
    archive, missing = _archive(tmp_path, standby.MIN_SIZE), tmp_path / "missing.tar"
    standby.stand_by_for_command([a.format(archive=archive, missing=missing) for a in arguments])
    assert (standby._standby._ready is not None) is stands_by
