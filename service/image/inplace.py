"""Layer blobs read where they already lie on disk: in an OCI layout directory, or as an
uncompressed member of an image archive (``docker save``), without a copy in the cache.

Storing a 1 GB ``docker save`` layer in the blob cache meant writing it whole, hashing
it and syncing it to disk before its analysis could end (3.2 s on the bench image, the
walk of its contents taking 1.7 s beside it). A layer whose analysis is all a scan needs
is read in place instead: :class:`InPlaceReader` hashes every byte it hands out, in a
thread of its own, and its :meth:`~InPlaceReader.size` (asked once the walk is done)
reads what is left and verifies the digest. The bytes hashed are the bytes read, so a
file changed while it is read cannot pass for the blob it claimed to be.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from service.errors import ImageError
from service.image.digest import mismatch

_CHUNK = 1 << 20
_HASH_AHEAD = 16  # chunks handed to the hashing thread and not hashed yet, at most


def chunks_at(fd: int, offset: int, size: int, path: Path, what: str) -> Iterator[bytes]:
    """The ``size`` bytes from ``offset`` of the open file ``fd`` (at ``path``, holding
    ``what``), a chunk at a time: pread, so readers of one file share no position;
    ImageError if the file ends first."""
    left = size
    while left:
        chunk = os.pread(fd, min(_CHUNK, left), offset)
        if not chunk:
            raise ImageError(f"{path} is truncated inside {what}")
        offset += len(chunk)
        left -= len(chunk)
        yield chunk


@dataclass(frozen=True)
class BlobRange:
    """Where a blob's bytes lie: ``size`` bytes of ``path`` from ``offset``;
    ``uncompressed``: a plain tar (as its media type or first bytes say), nothing to
    inflate beside its walk."""

    path: Path
    offset: int
    size: int
    uncompressed: bool


class InPlaceReader:
    """Reads the blob ``digest`` at ``where`` from its start (``read``; ``seek`` back
    only into the last chunk read); :meth:`size` verifies it. A compressed blob is read
    by the thread feeding its inflater while the walk, done, asks its size: the two take
    turns, so the bytes hashed are still the blob's in order."""

    def __init__(self, where: BlobRange, digest: str, what: str) -> None:
        self._where = where
        self._digest = digest
        self._what = what
        self._fd = os.open(where.path, os.O_RDONLY)
        self._chunks = chunks_at(self._fd, where.offset, where.size, where.path, what)
        self._hashing = _Hashing()
        self._frontier = 0  # bytes read from the file, each handed to the hashing thread
        self._last = b""  # the chunk that ends at the frontier, served again after a seek
        self._position = 0
        self._turn = threading.Lock()

    def __enter__(self) -> InPlaceReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._hashing.stop()
        os.close(self._fd)

    def size(self) -> int:
        """The blob's size, once it is read whole and verified (DigestMismatchError)."""
        with self._turn:
            while self._frontier < self._where.size:
                self._advance()
            self._position = self._frontier  # a reader after this one reads nothing more
        actual = self._hashing.digest()
        if actual != self._digest:
            raise mismatch(self._digest, actual, self._what)
        return self._where.size

    def seek(self, position: int) -> int:
        with self._turn:
            if not self._frontier - len(self._last) <= position <= self._frontier:
                raise ImageError(f"{self._what}: cannot go back to byte {position} read in place")
            self._position = position
            return position

    def read(self, size: int = -1) -> bytes:
        with self._turn:
            if self._position == self._frontier:
                self._advance()
            start = self._position - (self._frontier - len(self._last))
            data = self._last[start:] if size < 0 else self._last[start : start + size]
            self._position += len(data)
            return data

    def _advance(self) -> None:
        """Read the next chunk at the frontier and hand it to the hashing thread."""
        self._last = next(self._chunks, b"")
        if self._last:
            self._hashing.add(self._last)
            self._frontier += len(self._last)


class _Hashing(threading.Thread):
    """SHA-256 of the chunks it is given, in order, beside their reader (hashlib lets
    go of the interpreter while it hashes a large chunk)."""

    def __init__(self) -> None:
        super().__init__(name="hash-in-place", daemon=True)
        self._chunks: queue.Queue[bytes | None] = queue.Queue(_HASH_AHEAD)
        self._hash = hashlib.sha256()
        self.start()

    def add(self, chunk: bytes) -> None:
        self._chunks.put(chunk)

    def digest(self) -> str:
        """Once every chunk given is hashed."""
        self.stop()
        return f"sha256:{self._hash.hexdigest()}"

    def stop(self) -> None:
        if self.is_alive():
            self._chunks.put(None)
            self.join()

    def run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            self._hash.update(chunk)
