"""The outer tar of an image archive (``docker save``, ``oci-archive``), read in place.

Nothing is extracted. An uncompressed tar (what ``docker save`` writes) is seekable:
its member headers are listed once and a member's bytes are read only when asked for,
so a layer the blob cache already holds is never read. A compressed tar (gzip, bzip2,
xz, zstd) is not seekable: it is streamed once, each file member stored into the blob
cache under the digest it hashes to (a ``blobs/sha256/<hex>`` member the cache holds
is skipped), the small index files (``manifest.json``, ``index.json``, ...) kept in
memory, since ``docker save`` often writes ``manifest.json`` last.

Only the blob cache is ever written, so no member can land outside it; hostile members
are refused all the same (UnsafeArchiveError, naming the member): absolute or escaping
names and links, devices, FIFOs, sparse files, more than MAX_MEMBERS members, and
decompression bombs: the archive's content, gzip and zstd blobs counted at their
inflated size as they are stored, may not exceed what
:func:`~service.image.inflation.inflation_limit` allows for the archive's size.
"""

from __future__ import annotations

import bz2
import contextlib
import logging
import lzma
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, BinaryIO, cast

import zstandard
from isal.igzip import IGzipFile
from isal.igzip_lib import IsalError as _IsalError

from service.errors import ImageError, UnsafeArchiveError
from service.image.cache import BlobCache, ProgressCallback
from service.image.digest import mismatch
from service.image.inflation import inflation_limit
from service.image.inplace import BlobRange, chunks_at
from service.image.manifest import (
    GZIP_MAGIC,
    LAYER_HEAD,
    MAX_MANIFEST_SIZE,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    ZSTD_MAGIC,
    layer_media_type,
)

logger = logging.getLogger(__name__)

MAX_MEMBERS = 200_000
_CHUNK = 1 << 20
_UNREADABLE = (
    tarfile.TarError,
    EOFError,
    OSError,
    zlib.error,
    cast(type[Exception], _IsalError),  # an exception class; its stub says otherwise
    lzma.LZMAError,
    zstandard.ZstdError,
)
# kept in memory when the archive is streamed; every other file member goes to the cache
_INDEX_FILES = frozenset({"manifest.json", "index.json", "oci-layout", "repositories"})
_BLOB_NAME = re.compile(r"^blobs/sha256/([0-9a-f]{64})$")
_MAX_LINK_HOPS = 8


@contextlib.contextmanager
def open_tarball(path: Path, cache: BlobCache) -> Iterator[Tarball]:
    """``path``'s members, listed (seekable) or already stored in ``cache`` (streamed)."""
    with path.open("rb") as raw:
        try:
            tarball = _listed(path, cache, raw)
        except _UNREADABLE as exc:
            raise ImageError(
                f"{path} is not a readable tar archive: {exc}",
                hint="pass the file written by docker save, skopeo copy or buildah push",
            ) from exc
        yield tarball


def _listed(path: Path, cache: BlobCache, raw: BinaryIO) -> Tarball:
    stream = _decompressed(raw)
    if stream is None:
        return _SeekableTarball(path, cache, raw)
    with stream:
        return _StreamedTarball(path, cache, stream)


def _decompressed(raw: BinaryIO) -> IO[bytes] | None:
    """The tar inside a compressed ``raw``; None when ``raw`` is not compressed."""
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(GZIP_MAGIC):
        return cast(IO[bytes], IGzipFile(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    if head.startswith(ZSTD_MAGIC):
        return cast(IO[bytes], _zstd().stream_reader(raw, read_across_frames=True))
    return None


class Tarball:
    """An archive's members by (normalised) name; how their bytes are read is the
    subclass's. Every write goes to the blob cache, through its digest-checking writer."""

    def __init__(self, path: Path, cache: BlobCache) -> None:
        self.path = path
        self._cache = cache
        self._members: dict[str, tarfile.TarInfo] = {}
        self._stored: dict[str, str] = {}  # member -> the digest it is already cached under
        self._count = 0
        self._archive_size = max(path.stat().st_size, 1)
        self._limit = inflation_limit(self._archive_size)
        self._total = 0

    def find(self, name: str, what: str) -> str | None:
        """The regular file member ``name`` is (links inside the archive followed), or
        None; UnsafeArchiveError when ``name`` or a link on the way leaves the archive."""
        current = name
        for _ in range(_MAX_LINK_HOPS):
            normal = _normal(current)
            if normal is None:
                raise _outside(what, name)
            member = self._members.get(normal)
            if member is None:
                return None
            if member.isreg():
                return normal
            if member.issym():
                current = posixpath.join(posixpath.dirname(normal), member.linkname)
            elif member.islnk():
                current = member.linkname
            else:
                return None
        return None

    def member(self, name: str, what: str) -> str:
        """:meth:`find`, refusing a name that is not a regular file of the archive."""
        found = self.find(name, what)
        if found is None:
            raise _outside(what, name)
        return found

    def size(self, name: str) -> int:
        return self._members[name].size

    def index_file(self, name: str) -> bytes | None:
        """The small top-level file ``name`` (``manifest.json``, ...), None if absent."""
        found = self.find(name, "archive member")
        return None if found is None else self.read(found, MAX_MANIFEST_SIZE)

    def read(self, name: str, max_size: int) -> bytes:
        """Member ``name``'s bytes, refusing more than ``max_size`` of them."""
        digest = self._stored.get(name)
        if digest is not None:
            return self._cache.read_bytes(digest, max_size=max_size)
        size = self.size(name)
        if size > max_size:
            raise ImageError(f"{self.path}: {name!r} is larger than {max_size} bytes")
        return b"".join(self._chunks(name, size))

    def head(self, name: str) -> bytes:
        """The first bytes of member ``name`` (enough to tell a compressed layer)."""
        digest = self._stored.get(name)
        if digest is not None:
            with self._cache.path(digest).open("rb") as blob:
                return blob.read(LAYER_HEAD)
        return b"".join(self._chunks(name, min(LAYER_HEAD, self.size(name))))

    def store(
        self,
        name: str,
        expected: str | None,
        what: str,
        progress: ProgressCallback | None = None,
    ) -> str:
        """Member ``name`` in the blob cache, checked against ``expected`` (a mismatch is
        a DigestMismatchError about ``what``); its digest."""
        digest = self._stored.get(name)
        if digest is None:
            chunks = self._chunks(name, self.size(name))
            self._stored[name] = self._copy(name, chunks, expected, what, progress)
            return self._stored[name]
        if expected is not None and digest != expected:
            raise mismatch(expected, digest, what)
        if progress is not None:
            progress(digest, self.size(name), self.size(name))
        return digest

    def _chunks(self, name: str, size: int) -> Iterator[bytes]:
        """The first ``size`` bytes of member ``name``, a chunk at a time."""
        raise NotImplementedError

    def member_range(self, name: str) -> BlobRange | None:
        """Where member ``name``'s bytes lie in the archive file, when they can be read
        in place there: an uncompressed member not stored yet (a compressed one is
        stored, where its inflated size is checked; None)."""
        return None

    def _add(self, member: tarfile.TarInfo) -> None:
        self._count += 1
        if self._count > MAX_MEMBERS:
            raise UnsafeArchiveError(
                f"{self.path} has more than {MAX_MEMBERS} members: refusing it"
            )
        _check_member(member)
        self._grow(member, member.size)
        normal = _normal(member.name)
        if normal is not None:
            self._members[normal] = member

    def _grow(self, member: tarfile.TarInfo, size: int) -> None:
        self._total += size
        if self._total > self._limit:
            raise UnsafeArchiveError(
                f"{self.path} expands past {self._total} bytes at member {member.name!r} "
                f"(archive is {self._archive_size} bytes): refusing a decompression bomb",
                hint="the archive is malformed or hostile; do not use it",
            )

    def _copy(
        self,
        name: str,
        chunks: Iterable[bytes],
        expected: str | None,
        what: str,
        progress: ProgressCallback | None,
    ) -> str:
        """``chunks`` (member ``name``'s bytes) into the cache in one pass: hashed,
        checked and, for a gzip or zstd blob, counted at its inflated size."""
        member = self._members[name]
        inflation: _Inflation | None = None
        with self._cache.writer(expected, what) as sink:
            for chunk in chunks:
                if sink.size == 0:
                    inflation = _inflation(chunk, lambda size: self._grow(member, size))
                sink.write(chunk)
                try:
                    if inflation is not None:
                        inflation.update(chunk)
                except _WindowTooLarge:
                    raise _unsafe(
                        member,
                        "needs a zstd window over libzstd's 128 MiB limit to "
                        "decompress: refusing a memory bomb",
                    ) from None
                if progress is not None and expected is not None and sink.size < member.size:
                    progress(expected, sink.size, member.size)
        if progress is not None:  # "done" only once the blob is verified and stored
            progress(sink.hasher.digest, sink.size, sink.size)
        return sink.hasher.digest


class _SeekableTarball(Tarball):
    """An uncompressed tar: headers listed up front, member bytes read where they lie."""

    def __init__(self, path: Path, cache: BlobCache, raw: BinaryIO) -> None:
        super().__init__(path, cache)
        self._fd = raw.fileno()  # open as long as the tarball is (see open_tarball)
        with tarfile.open(fileobj=raw, mode="r:") as tar:  # reads headers, seeks past data
            for member in tar:
                self._add(member)
        logger.debug("listed %d members of %s", self._count, path)

    def member_range(self, name: str) -> BlobRange | None:
        if name in self._stored or layer_media_type(self.head(name)) != OCI_LAYER:
            return None
        member = self._members[name]
        return BlobRange(self.path, member.offset_data, member.size, uncompressed=True)

    def _chunks(self, name: str, size: int) -> Iterator[bytes]:
        # pread: the layer thread and the caller can both read
        offset = self._members[name].offset_data
        return chunks_at(self._fd, offset, size, self.path, f"member {name!r}")


class _StreamedTarball(Tarball):
    """A compressed tar, read once: file members stored in the cache as they stream by."""

    def __init__(self, path: Path, cache: BlobCache, stream: IO[bytes]) -> None:
        super().__init__(path, cache)
        self._small: dict[str, bytes] = {}
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                self._add(member)
                normal = _normal(member.name)
                if member.isreg() and normal is not None:
                    data = tar.extractfile(member)
                    assert data is not None  # a regular file always has data
                    self._take(normal, data)
        logger.debug("streamed %d members of %s into the cache", self._count, path)

    def _take(self, name: str, data: IO[bytes]) -> None:
        if name in _INDEX_FILES and self._members[name].size <= MAX_MANIFEST_SIZE:
            self._small[name] = data.read()
            return
        named = _BLOB_NAME.match(name)
        if named and self._cache.has(f"sha256:{named[1]}"):  # its bytes are never used
            self._stored[name] = f"sha256:{named[1]}"
            return
        chunks = iter(lambda: data.read(_CHUNK), b"")
        self._stored[name] = self._copy(name, chunks, None, f"member {name}", None)

    def _chunks(self, name: str, size: int) -> Iterator[bytes]:
        yield self._small[name][:size]  # every other file member is stored already


class _WindowTooLarge(Exception):
    """A zstd frame declares a window past what libzstd decodes by default (128 MiB)."""


class _Inflation:
    """Counts what a gzip or zstd blob inflates to as its bytes pass, a piece at a time
    (``grow(size)`` for each piece: it raises to stop a bomb).

    A corrupt stream stops the count and is left for the engines to report.
    """

    def __init__(self, grow: Callable[[int], None]) -> None:
        self._grow = grow
        self._broken = False

    def update(self, chunk: bytes) -> None:
        if not self._broken:
            self._inflate(chunk)

    def _inflate(self, chunk: bytes) -> None:
        raise NotImplementedError


class _GzipInflation(_Inflation):
    def __init__(self, grow: Callable[[int], None]) -> None:
        super().__init__(grow)
        self._gzip = zlib.decompressobj(wbits=31)

    def _inflate(self, data: bytes) -> None:
        while True:
            try:  # at most _CHUNK at a time: a bomb never sits in memory
                piece = self._gzip.decompress(data, _CHUNK)
            except zlib.error:
                self._broken = True
                return
            self._grow(len(piece))
            if self._gzip.eof:  # the next gzip member, if any
                data = self._gzip.unused_data
                self._gzip = zlib.decompressobj(wbits=31)
            else:
                data = self._gzip.unconsumed_tail
            if not data and len(piece) < _CHUNK:
                return


class _ZstdInflation(_Inflation):
    """Every frame (engines decode them all), through a writer into a counting sink. A
    frame whose window libzstd would not decode within its memory limit raises
    :class:`_WindowTooLarge`: the engines' decoders accept larger windows."""

    def __init__(self, grow: Callable[[int], None]) -> None:
        super().__init__(grow)
        self._zstd = _zstd().stream_writer(cast(IO[bytes], _Counter(grow)), write_size=_CHUNK)

    def _inflate(self, data: bytes) -> None:
        try:
            self._zstd.write(data)
        except zstandard.ZstdError as error:
            if "too much memory" not in str(error):  # ZSTD_error_frameParameter_windowTooLarge
                self._broken = True
                return
            raise _WindowTooLarge from error


def _inflation(head: bytes, grow: Callable[[int], None]) -> _Inflation | None:
    """How to count the inflated size of a blob starting with ``head`` (None: as it is)."""
    media_type = layer_media_type(head)
    if media_type == OCI_LAYER_GZIP:
        return _GzipInflation(grow)
    if media_type == OCI_LAYER_ZSTD:
        return _ZstdInflation(grow)
    return None


class _Counter:
    """A sink for the zstd decompressor: counts what it is given, keeps nothing."""

    def __init__(self, grow: Callable[[int], None]) -> None:
        self._grow = grow

    def write(self, data: bytes) -> int:
        self._grow(len(data))
        return len(data)


def _zstd() -> zstandard.ZstdDecompressor:
    return zstandard.ZstdDecompressor()  # libzstd's default window limit: 128 MiB


def _normal(name: str) -> str | None:
    """``name`` as a member path (``./a//b`` is ``a/b``), or None if it leaves the archive."""
    if not name or name.startswith("/") or os.path.isabs(name):
        return None
    normal = posixpath.normpath(name)
    return None if normal == ".." or normal.startswith("../") else normal


def _outside(what: str, name: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{what} {name!r} is not a file inside it",
        hint="the archive is malformed or hostile; do not use it",
    )


def _unsafe(member: tarfile.TarInfo, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"archive member {member.name!r} {why}",
        hint="the archive is malformed or hostile; do not use it",
    )


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise _unsafe(member, "has an absolute path")
    if ".." in name.split("/") or _escapes(name):
        raise _unsafe(member, "escapes the archive (path traversal)")
    if member.isdev() or member.isfifo():
        raise _unsafe(member, "is a device or FIFO")
    if member.type == tarfile.GNUTYPE_SPARSE or getattr(member, "sparse", None):
        raise _unsafe(member, "is a sparse file")
    if member.issym():
        if posixpath.isabs(member.linkname):
            raise _unsafe(member, f"is a symlink to the absolute path {member.linkname!r}")
        if _escapes(posixpath.join(posixpath.dirname(name), member.linkname)):
            raise _unsafe(member, f"is a symlink escaping the archive ({member.linkname!r})")
    elif member.islnk():
        if posixpath.isabs(member.linkname) or _escapes(member.linkname):
            raise _unsafe(member, f"is a hard link escaping the archive ({member.linkname!r})")
    elif not (member.isreg() or member.isdir()):
        raise _unsafe(member, f"has unsupported tar type {member.type!r}")
