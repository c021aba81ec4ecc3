"""A layer read while it is stored: the same contents as read once stored, and nothing
when the download fails its digest check."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from service.errors import BlobNotStoredError, DigestMismatchError
from service.image import incoming
from service.image.cache import BlobCache
from service.image.download import LayerDownload
from service.layers.reader import read_layer
from tests.support.layers import File, write_gzip_layer

ENTRIES = {
    "etc/os-release": File(b"ID=debian\n"),
    "home/u/.env": File(b"TOKEN=abc\n"),
    "usr/lib/big.bin": File(os.urandom(3 << 20)),  # incompressible: many network-sized writes
}


def _slow_store(cache: BlobCache, source: Path, expected: str) -> Callable[[str], None]:
    """A fetch that writes ``source`` in 64 KiB pieces, a pause after the first pieces."""
    started = threading.Event()

    def fetch(digest: str) -> None:
        data = source.read_bytes()
        with cache.writer(expected, f"layer {digest}") as sink:
            for offset in range(0, len(data), 1 << 16):
                sink.write(data[offset : offset + (1 << 16)])
                if offset == 1 << 17:
                    started.set()
                    threading.Event().wait(0.2)  # the reader catches up and waits

    return fetch


def test_a_layer_read_as_it_arrives_is_the_layer_read_once_stored(tmp_path: Path) -> None:
    layer = write_gzip_layer(ENTRIES, tmp_path / "source")
    cache = BlobCache(tmp_path / "cache")
    download = LayerDownload(
        [layer.digest], _slow_store(cache, layer.path, layer.digest), cache.path
    )
    follower = download.follow(layer.digest)
    assert follower is not None
    with follower:
        streamed = read_layer(follower, layer.digest)
    download.finish()
    assert streamed == read_layer(cache.path(layer.digest), layer.digest)
    assert streamed.compressed_size == layer.size
    assert download.follow(layer.digest) is None  # stored: read it from the cache


def test_a_layer_whose_digest_fails_is_never_a_result(tmp_path: Path) -> None:
    layer = write_gzip_layer(ENTRIES, tmp_path / "source")
    cache = BlobCache(tmp_path / "cache")
    claimed = "sha256:" + "0" * 64  # the registry serves other bytes than the manifest names
    download = LayerDownload([claimed], _slow_store(cache, layer.path, claimed), cache.path)
    follower = download.follow(claimed)
    assert follower is not None
    with follower, pytest.raises(BlobNotStoredError, match="download failed"):
        read_layer(follower, claimed)
    with pytest.raises(DigestMismatchError):
        download.finish()
    assert not cache.has(claimed)
    assert download.follow(claimed) is None


def test_a_layer_that_never_starts_is_not_followed(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")

    def fail(digest: str) -> None:
        raise DigestMismatchError(f"{digest}: refused before a byte was written")

    download = LayerDownload(["sha256:" + "1" * 64, "sha256:" + "2" * 64], fail, cache.path)
    assert download.follow("sha256:" + "2" * 64) is None
    assert not download.wait_for("sha256:" + "2" * 64)


def test_readers_are_woken_a_mebibyte_at_a_time_and_once_the_blob_is_whole(
    tmp_path: Path,
) -> None:
    """Network-sized writes are announced to the blob's readers in 1 MiB steps (a wake-up
    per 64 KiB piece cost the download and the walk beside it ~0.2 s on a 360 MB layer),
    and the rest once the writer is done."""
    data = os.urandom((1 << 20) + (200 << 10))
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    cache = BlobCache(tmp_path / "cache")
    seen: list[int] = []
    with cache.writer(digest, "blob") as sink:
        follower = incoming.follow(cache.path(digest), threading.Event(), "blob")
        assert follower is not None
        for start in range(0, len(data), 64 << 10):
            sink.write(data[start : start + (64 << 10)])
            seen.append(follower.seek(len(data)))  # how far a reader may go
    with follower:
        assert seen[0] == 0 and max(seen) == 1 << 20
        assert follower.size() == len(data)
        follower.seek(0)
        assert follower.read(-1) == data
