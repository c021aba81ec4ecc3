"""Layers downloaded in the background: waiters see each arrival, failures end every wait."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from service.errors import DigestMismatchError
from service.image.download import LayerDownload
from service.image.inplace import BlobRange


def test_each_layer_is_announced_once_fetched_in_order() -> None:
    fetched: list[str] = []
    release = threading.Event()

    def fetch(digest: str) -> None:
        if digest == "sha256:b":
            release.wait()
        fetched.append(digest)

    download = LayerDownload(["sha256:a", "sha256:b"], fetch)
    assert download.wait_for("sha256:a")
    assert fetched == ["sha256:a"]  # b is still held back
    release.set()
    assert download.wait_for("sha256:b")
    download.finish()
    assert fetched == ["sha256:a", "sha256:b"]


def test_a_failed_layer_ends_every_wait_and_is_raised() -> None:
    def fetch(digest: str) -> None:
        if digest == "sha256:b":
            raise DigestMismatchError("blob sha256:b does not match its digest")

    download = LayerDownload(["sha256:a", "sha256:b", "sha256:c"], fetch)
    assert download.wait_for("sha256:a")
    assert not download.wait_for("sha256:b")
    assert not download.wait_for("sha256:c")  # never tried: the download stopped
    with pytest.raises(DigestMismatchError, match="does not match"):
        download.finish()


def test_unknown_layers_are_never_waited_for() -> None:
    download = LayerDownload(["sha256:a"], lambda digest: None)
    assert not download.wait_for("sha256:other")
    download.finish()


def test_abandoning_stops_after_the_layer_in_progress() -> None:
    fetched: list[str] = []
    started, release = threading.Event(), threading.Event()

    def fetch(digest: str) -> None:
        started.set()
        release.wait()
        fetched.append(digest)

    download = LayerDownload(["sha256:a", "sha256:b"], fetch)
    started.wait()
    releaser = threading.Timer(0.1, release.set)
    releaser.start()
    download.abandon()
    releaser.join()
    assert fetched == ["sha256:a"]
    download.finish()  # abandoning is not an error


def test_layers_read_in_place_say_where_they_lie_until_stored(tmp_path: Path) -> None:
    ranges = {
        "sha256:plain": BlobRange(tmp_path / "a", 0, 1, uncompressed=True),
        "sha256:gzip": BlobRange(tmp_path / "b", 0, 1, uncompressed=False),
    }
    digests = [*ranges, "sha256:fetched"]
    download = LayerDownload(digests, lambda digest: None, in_place=ranges.get)
    download.finish()
    assert [download.in_place(digest) for digest in digests] == [*ranges.values(), None]
    download.store_all()  # in the cache now: read from there
    assert [download.in_place(digest) for digest in digests] == [None, None, None]
