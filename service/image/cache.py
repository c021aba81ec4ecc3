"""Content-addressed blob cache shared by every scan and process.

Blobs live at ``<root>/blobs/sha256/<hex>``, so the cache root is itself an OCI layout
blob store. A blob is written to a temp file in the same directory, hashed while it
streams, verified, then atomically renamed into place: readers never see partial
blobs, concurrent writers of the same blob both succeed, and a blob present is never
fetched again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from service.directories import ensure_directory
from service.errors import ImageError
from service.image import incoming
from service.image.digest import DigestWriter, digest_hex, sha256_digest

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(digest, bytes_done, bytes_total)`` while a blob is stored."""

_CHUNK = 1 << 20
_ANNOUNCE = 1 << 20  # bytes written between two wake-ups of the blob's readers


class BlobSink:
    """An open temp file that hashes what is written to it (see :meth:`BlobCache.writer`);
    what is written is readable at once (:mod:`service.image.incoming`)."""

    def __init__(self, file: BinaryIO, arriving: incoming.Arriving | None) -> None:
        self._file = file
        self._arriving = arriving
        self._announced = 0
        self.hasher = DigestWriter()

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)
        self._file.write(chunk)
        if self._arriving is not None and self.hasher.size - self._announced >= _ANNOUNCE:
            self.announce()

    def announce(self) -> None:
        """Make what was written readable by the blob's readers."""
        if self._arriving is not None and self._announced < self.hasher.size:
            self._file.flush()
            incoming.wrote(self._arriving, self.hasher.size)
            self._announced = self.hasher.size

    @property
    def size(self) -> int:
        return self.hasher.size


class BlobCache:
    """``<root>/blobs/sha256/<hex>`` and ``<root>/images`` (per-image OCI layouts)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs_dir = root / "blobs" / "sha256"
        self.images_dir = root / "images"
        for directory in (self.blobs_dir, self.images_dir):
            ensure_directory(directory, "cache")

    def path(self, digest: str) -> Path:
        return self.blobs_dir / digest_hex(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def read_bytes(self, digest: str, *, max_size: int) -> bytes:
        path = self.path(digest)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ImageError(f"blob {digest} is not in the cache at {path}") from exc
        if size > max_size:
            raise ImageError(f"blob {digest} is {size} bytes, more than the {max_size} allowed")
        return path.read_bytes()

    @contextlib.contextmanager
    def writer(self, expected: str | None, what: str = "blob") -> Iterator[BlobSink]:
        """Write a blob; on clean exit it is verified against ``expected`` and published
        (``expected`` None: published under whatever it hashes to, ``sink.hasher.digest``).

        On any error (including DigestMismatchError) the temp file is removed.
        """
        fd, temp_name = tempfile.mkstemp(prefix=".incoming-", dir=self.blobs_dir)
        # a blob known by its digest ahead can be read while it is written
        arriving = (
            None if expected is None else incoming.writing(self.path(expected), Path(temp_name))
        )
        try:
            with os.fdopen(fd, "wb") as file:
                sink = BlobSink(file, arriving)
                yield sink
                sink.announce()
                os.fsync(file.fileno())
            if expected is not None:
                sink.hasher.verify(expected, what)
            os.chmod(temp_name, 0o444)
            if arriving is not None:
                incoming.ended(arriving, failed=False)
            os.replace(temp_name, self.path(sink.hasher.digest))
        except BaseException:
            if arriving is not None:
                incoming.ended(arriving, failed=True)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_name)
            raise
        logger.debug("cached %s (%d bytes)", sink.hasher.digest, sink.size)

    def put_bytes(self, data: bytes, expected: str | None = None, what: str = "blob") -> str:
        """Store ``data`` (verified against ``expected`` when given); returns its digest."""
        digest = expected or sha256_digest(data)
        if not self.has(digest):
            with self.writer(digest, what) as sink:
                sink.write(data)
        return digest

    def put_file(
        self,
        source: Path,
        expected: str | None = None,
        *,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Copy a file in, hashing as it goes; ``expected`` None means "its own digest"."""
        digest = expected or _file_digest(source)
        if self.has(digest):
            return digest
        total = source.stat().st_size
        with source.open("rb") as file, self.writer(digest, f"blob {source.name}") as sink:
            while chunk := file.read(_CHUNK):
                sink.write(chunk)
                if progress is not None and sink.size < total:
                    progress(digest, sink.size, total)
        if progress is not None:  # "done" only once the blob is verified and stored
            progress(digest, sink.size, sink.size)
        return digest


def _file_digest(path: Path) -> str:
    hasher = DigestWriter()
    with path.open("rb") as file:
        while chunk := file.read(_CHUNK):
            hasher.update(chunk)
    return hasher.digest
