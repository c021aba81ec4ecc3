"""A layer read by a child process: the same contents and evidence as read here, its
errors raised here as the same class, and a child that dies leaves the read to us."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import threading
import time
from pathlib import Path

import pytest

from service.errors import DigestMismatchError, ImageError
from service.image.cache import BlobCache
from service.image.inplace import BlobRange, InPlaceReader
from service.layers import analyzer, child_read, standby
from service.layers.child_read import ChildRead, worth_a_child
from service.layers.reader import read_keeping_evidence

PREFIX = b"archive bytes before the layer\n" * 100  # read in place from an offset


def _layer(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def layer(tmp_path: Path) -> tuple[BlobRange, str]:
    """A layer with evidence (os-release, a package.json) and a private key, lying in an
    archive after other bytes; and its digest."""
    data = _layer(
        {
            "etc/os-release": b"ID=debian\nVERSION_ID=12\n",
            "app/node_modules/qs/package.json": b'{"name": "qs", "version": "6.2.0"}',
            "root/.ssh/id_rsa": b"-----BEGIN RSA PRIVATE KEY-----\nMII\n",
            "app/data.bin": bytes(70_000),
        }
    )
    archive = tmp_path / "image.tar"
    archive.write_bytes(PREFIX + data + b"trailing members")
    where = BlobRange(archive, len(PREFIX), len(data), uncompressed=True)
    return where, f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_a_child_reads_a_layer_as_this_process_does(
    tmp_path: Path, layer: tuple[BlobRange, str]
) -> None:
    where, digest = layer
    here_blobs, child_blobs = BlobCache(tmp_path / "here"), BlobCache(tmp_path / "child")
    with InPlaceReader(where, digest, "layer") as blob:
        here = read_keeping_evidence(here_blobs, blob, digest)
    child = ChildRead(child_blobs, where, digest).result()
    assert child == here
    assert here.secrets and here.evidence is not None
    assert (
        child_blobs.path(here.evidence).read_bytes() == here_blobs.path(here.evidence).read_bytes()
    )


def test_a_layer_that_does_not_match_its_digest_fails_in_the_child_and_here(
    tmp_path: Path, layer: tuple[BlobRange, str]
) -> None:
    where, _ = layer
    other = "sha256:" + "0" * 64
    with pytest.raises(DigestMismatchError, match="hashes to"):
        ChildRead(BlobCache(tmp_path / "blobs"), where, other).result()


def test_a_child_that_ends_without_an_answer_leaves_the_read_here(
    tmp_path: Path, layer: tuple[BlobRange, str], caplog: pytest.LogCaptureFixture
) -> None:
    where, digest = layer
    gone = BlobRange(tmp_path / "no-such-archive.tar", 0, where.size, uncompressed=True)
    assert ChildRead(BlobCache(tmp_path / "blobs"), gone, digest).result() is None
    assert "reading it here" in caplog.text and "FileNotFoundError" in caplog.text


def test_a_cancelled_child_is_stopped_and_collected(
    tmp_path: Path, layer: tuple[BlobRange, str]
) -> None:
    where, digest = layer
    child = ChildRead(BlobCache(tmp_path / "blobs"), where, digest)
    child.cancel()
    child.cancel()  # twice: nothing more to do
    assert child._process.returncode is not None  # exited and collected


def test_the_largest_of_several_layers_is_worth_a_child_when_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def at(size: int) -> BlobRange:
        return BlobRange(tmp_path / "a.tar", 0, size, uncompressed=True)

    large, small = at(standby.MIN_SIZE * 2), at(1024)
    assert worth_a_child({"s": small, "l": large, "m": at(standby.MIN_SIZE)}) == "l"
    assert worth_a_child({}) is None
    assert worth_a_child({"l": large}) is None  # nothing else to read meanwhile
    assert worth_a_child({"s": small, "m": at(standby.MIN_SIZE - 1)}) is None  # too small
    monkeypatch.setattr(child_read.os, "cpu_count", lambda: 1)
    assert worth_a_child({"s": small, "l": large}) is None  # one core: nothing to gain


def test_a_thread_reading_beside_a_child_gives_way_to_it_alone() -> None:
    seen: list[int] = []

    def reader() -> None:
        analyzer._behind_children()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=reader)
    thread.start()
    thread.join()
    assert seen == [min(before + analyzer._BEHIND_CHILDREN, 19)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before


def test_a_child_stopped_mid_read_leaves_no_evidence_behind(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for n in range(40_000):  # a walk long enough to be stopped in
            data = b'{"name": "p%d", "version": "1.0.0"}' % n
            info = tarfile.TarInfo(f"app/node_modules/p{n}/package.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive = tmp_path / "layer.tar"
    archive.write_bytes(out.getvalue())
    where = BlobRange(archive, 0, len(out.getvalue()), uncompressed=True)
    blobs = BlobCache(tmp_path / "blobs")
    child = ChildRead(blobs, where, f"sha256:{hashlib.sha256(out.getvalue()).hexdigest()}")
    deadline = time.monotonic() + 30
    while not list(blobs.blobs_dir.glob(".incoming-*")) and time.monotonic() < deadline:
        time.sleep(0.005)  # until its evidence is being written
    child.cancel()
    with pytest.raises(ImageError, match="stopped"):
        child.result()
    assert list(blobs.blobs_dir.iterdir()) == []
