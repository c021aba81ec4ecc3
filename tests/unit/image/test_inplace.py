"""A blob read in place: the bytes of its range, hashed as they are read."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from service.errors import DigestMismatchError, ImageError
from service.image.inplace import BlobRange, InPlaceReader

BLOB = bytes(range(256)) * 10_000  # 2.5 MB: three chunks


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _file(tmp_path: Path) -> tuple[Path, BlobRange]:
    path = tmp_path / "archive"
    path.write_bytes(b"header" + BLOB + b"trailer")
    return path, BlobRange(path, len(b"header"), len(BLOB), uncompressed=True)


def _read_all(reader: InPlaceReader, size: int) -> bytes:
    data = b""
    while chunk := reader.read(size):
        data += chunk
    return data


def test_the_range_is_read_and_verified(tmp_path: Path) -> None:
    _, where = _file(tmp_path)
    with InPlaceReader(where, _digest(BLOB), "layer") as reader:
        head = reader.read(512)
        assert reader.seek(0) == 0  # back to the start, as a reader of compressed blobs does
        assert _read_all(reader, 300_000) == BLOB
        assert head == BLOB[:512]
        assert reader.size() == len(BLOB)


def test_what_was_not_read_is_read_to_verify(tmp_path: Path) -> None:
    _, where = _file(tmp_path)
    with InPlaceReader(where, _digest(BLOB), "layer") as reader:
        reader.read(10)
        assert reader.size() == len(BLOB)


def test_bytes_that_do_not_hash_to_the_digest_are_refused(tmp_path: Path) -> None:
    _, where = _file(tmp_path)
    with InPlaceReader(where, _digest(BLOB[:-1] + b"x"), "layer L") as reader:
        _read_all(reader, 1 << 20)
        with pytest.raises(DigestMismatchError, match="layer L"):
            reader.size()


def test_no_going_back_past_the_last_chunk_and_no_reading_past_the_file(
    tmp_path: Path,
) -> None:
    path, where = _file(tmp_path)
    with InPlaceReader(where, _digest(BLOB), "layer") as reader:
        _read_all(reader, 1 << 20)
        with pytest.raises(ImageError, match="cannot go back"):
            reader.seek(0)
    path.write_bytes(b"header" + BLOB[:1000])  # truncated since it was listed
    with (
        InPlaceReader(where, _digest(BLOB), "layer") as reader,
        pytest.raises(ImageError, match="truncated"),
    ):
        _read_all(reader, 1 << 20)


def _feed(reader: InPlaceReader, fed: list[bytes]) -> None:
    fed.append(_read_all(reader, 65536))


def test_a_feeding_thread_and_the_size_asked_meanwhile_take_turns(tmp_path: Path) -> None:
    """The walk of a compressed blob may end (and ask the size) while the thread that
    feeds its inflater still reads: every byte is still hashed once, in order."""
    _, where = _file(tmp_path)
    for _ in range(20):
        with InPlaceReader(where, _digest(BLOB), "layer") as reader:
            fed: list[bytes] = []
            feeder = threading.Thread(target=_feed, args=(reader, fed))
            feeder.start()
            assert reader.size() == len(BLOB)
            feeder.join()
            assert BLOB.startswith(fed[0])
