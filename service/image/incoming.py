"""Blobs still being written into the cache, readable while they arrive.

A layer is analysed as it downloads rather than after: :meth:`Incoming.follow` reads a
blob's temporary file as far as it is written and waits for more. What was read counts
only once the writer has verified the blob's digest and published it — a reader learns
that from the download (it waits for the layer's arrival after reading), and a failed
write ends every reader with an error. Writers and readers meet in this process-wide
table, keyed by the blob's final path: each cache user has a cache object of its own.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from typing_extensions import Buffer

from service.errors import BlobNotStoredError

_POLL = 0.05  # seconds between looks at a download that may never start


class Arriving:
    """One blob's temporary file and how much of it is written."""

    def __init__(self, target: Path, temp: Path) -> None:
        self.target = target
        self.temp = temp
        self.written = 0
        self.ended = False  # written in full (published) or given up
        self.failed = False


_table: dict[Path, Arriving] = {}
_changed = threading.Condition()


def writing(target: Path, temp: Path) -> Arriving:
    """A writer started ``temp``, to become ``target``."""
    arriving = Arriving(target, temp)
    with _changed:
        _table[target] = arriving
        _changed.notify_all()
    return arriving


def wrote(arriving: Arriving, size: int) -> None:
    """``size`` bytes of the blob are in its temporary file, flushed."""
    with _changed:
        arriving.written = size
        _changed.notify_all()


def ended(arriving: Arriving, *, failed: bool) -> None:
    """The writer is done: call before renaming or removing the temporary file."""
    with _changed:
        if _table.get(arriving.target) is arriving:  # not another writer's, of the same blob
            del _table[arriving.target]
        arriving.ended, arriving.failed = True, failed
        _changed.notify_all()


class Follower:
    """Reads a blob as it is written (``read``, and ``seek`` back to a position read);
    :meth:`size` waits for the writer to verify and publish it."""

    def __init__(self, arriving: Arriving, fd: int, what: str) -> None:
        self._arriving = arriving
        self._fd = fd  # of the temporary file, open: it outlives the rename or removal
        self._position = 0
        self._what = what

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self._fd)

    def size(self) -> int:
        """The blob's size, once it is written in full and verified."""
        with _changed:
            while not self._arriving.ended:
                _changed.wait()
        self._raise_if_failed()
        return self._arriving.written

    def _raise_if_failed(self) -> None:
        if self._arriving.failed:
            raise BlobNotStoredError(f"{self._what}: its download failed while it was being read")

    def seek(self, position: int) -> int:
        self._position = min(position, self._arriving.written)
        return self._position

    def read(self, size: int = -1) -> bytes:
        data = os.pread(self._fd, self._available(size), self._position)
        self._position += len(data)
        return data

    def readinto(self, buffer: Buffer) -> int:
        view = memoryview(buffer).cast("B")
        count = os.preadv(self._fd, [view[: self._available(len(view))]], self._position)
        self._position += count
        return count

    def _available(self, size: int) -> int:
        """How many bytes to read (``size`` at most; all there are when negative), once
        there is at least one or the blob is complete."""
        with _changed:
            while self._position >= self._arriving.written and not self._arriving.ended:
                _changed.wait()
            self._raise_if_failed()
            available = self._arriving.written - self._position
        return available if size < 0 else min(size, available)


def follow(target: Path, settled: threading.Event, what: str) -> Follower | None:
    """A reader of ``target`` while it is written; None once it is not being written
    (published meanwhile, or ``settled``: its download ended without writing it)."""
    with _changed:
        while True:
            arriving = _table.get(target)
            if arriving is not None:
                # the writer renames or removes it only after ended(), which waits for us
                return Follower(arriving, os.open(arriving.temp, os.O_RDONLY), what)
            if settled.is_set() or target.is_file():
                return None
            _changed.wait(_POLL)
