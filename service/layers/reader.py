"""Read one layer blob as a stream: inflate, walk its tar, keep what it contributes.

Nothing is written to disk. gzip is inflated with ISA-L (``isal``) when installed, else
zlib; zstd with ``zstandard``; a plain tar is read as it is. Member names are
normalised as the image filesystem applies them (``./etc/x`` and ``/etc/x`` are
``etc/x``) and resolved inside the root, as ``..`` at the root stays at the root.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import itertools
import posixpath
import queue
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, cast

import zstandard
from typing_extensions import Buffer

from service.errors import ImageError
from service.layers import evidence, secrets
from service.layers.model import LayerContents, LayerSecret, SecretKind

try:  # ISA-L inflates gzip about 3x faster than zlib
    from isal.igzip import IGzipFile as _GzipReader
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _GzipReader = gzip.GzipFile  # type: ignore[misc,assignment]

MAX_ENTRIES = 2_000_000  # beyond this a layer is refused: its listing would not fit in memory
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
_AHEAD = 8  # chunks inflated ahead of the reader
_SPOOLED_IN_MEMORY = 8 << 20  # an executable kept as evidence, past this: on disk


def _empty_evidence() -> str:
    sink = io.BytesIO()
    with _EvidenceTar(sink):
        pass
    return f"sha256:{hashlib.sha256(sink.getvalue()).hexdigest()}"


def read_layer(blob: Path, digest: str, evidence: IO[bytes] | None = None) -> LayerContents:
    """What the layer stored at ``blob`` contributes to an image; with ``evidence``, the
    entries Syft's catalogers read are written there as an uncompressed tar."""
    try:
        with (
            blob.open("rb") as raw,
            _inflated(raw) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
            _EvidenceTar(evidence) as kept,
        ):
            contents = _contents(tar, kept, digest, blob.stat().st_size)
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as error:
        raise ImageError(f"layer {digest} is not a readable tar stream: {error}") from error
    return contents


class _EvidenceTar:
    """The layer's evidence (see :mod:`service.layers.evidence`), or nothing without a sink."""

    def __init__(self, sink: IO[bytes] | None) -> None:
        self._tar = (
            tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115 - closed by __exit__
            if sink
            else None
        )
        self._files: set[str] = set()
        self.understood = True

    def __enter__(self) -> _EvidenceTar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    def entry(self, member: tarfile.TarInfo, path: str) -> None:
        """A symlink, hard link, whiteout or opaque marker."""
        if self._tar is None:
            return
        if member.islnk():
            target = _normalised(member.linkname)
            if target not in self._files:
                if evidence.by_path(path):  # its content is in a file that was not kept
                    self.understood = False
                return
        self._tar.addfile(_renamed(member, path))

    def file(self, member: tarfile.TarInfo, path: str, content: IO[bytes]) -> None:
        if self._tar is None:
            return
        self._tar.addfile(_renamed(member, path), content)
        self._files.add(path)

    @property
    def keeping(self) -> bool:
        return self._tar is not None


def _contents(
    tar: tarfile.TarFile, kept: _EvidenceTar, digest: str, compressed_size: int
) -> LayerContents:
    files: dict[str, int] = {}
    whiteouts: list[str] = []
    opaque: list[str] = []
    found: list[LayerSecret] = []
    for count, member in enumerate(tar, start=1):
        if count > MAX_ENTRIES:
            raise ImageError(f"layer {digest} has more than {MAX_ENTRIES} entries: refusing it")
        path = _normalised(member.name)
        if path is None:
            continue
        if not evidence.understood(path):
            kept.understood = False
        if member.isdir():
            continue
        directory, name = posixpath.split(path)
        if name.startswith(WHITEOUT):
            if name == OPAQUE:
                opaque.append(directory)
                kept.entry(member, path)
            elif not name.startswith(WHITEOUT + WHITEOUT):  # other AUFS metadata: not files
                whiteouts.append(posixpath.join(directory, name[len(WHITEOUT) :]))
                kept.entry(member, path)
            continue
        size = member.size if member.isreg() else 0
        files[path] = size
        if not member.isreg():
            kept.entry(member, path)
            continue
        kind = _regular(tar, member, path, kept)
        if kind is not None:
            found.append(LayerSecret(path=path, kind=kind))
    return LayerContents(
        digest=digest,
        compressed_size=compressed_size,
        files=files,
        whiteouts=tuple(whiteouts),
        opaque=tuple(opaque),
        secrets=tuple(found),
        evidence_understood=kept.understood,
    )


def _regular(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, kept: _EvidenceTar
) -> SecretKind | None:
    """Read what a regular file needs read: for secrets, and to keep it as evidence."""
    handle = tar.extractfile(member)
    assert handle is not None  # a regular file always has content
    content = handle.read() if secrets.wanted(path, member.size) else None
    if kept.keeping:
        if evidence.by_path(path):
            kept.file(member, path, io.BytesIO(content) if content is not None else handle)
        else:
            head = content if content is not None else handle.read(evidence.EXECUTABLE_HEAD)
            if evidence.executable(head):
                rest = handle if content is None else io.BytesIO()  # past the head
                _executable(member, path, rest, head, kept)
    return secrets.classify(path, content)


def _executable(
    member: tarfile.TarInfo, path: str, rest: IO[bytes], head: bytes, kept: _EvidenceTar
) -> None:
    """Keep an executable that is evidence: read past ``head`` in chunks and spooled (a
    large one goes to a temporary file, not into memory) while its markers are looked for."""
    with tempfile.SpooledTemporaryFile(_SPOOLED_IN_MEMORY) as spool:
        chunks = _spooled(itertools.chain([head], iter(lambda: rest.read(_CHUNK), b"")), spool)
        if evidence.by_content(chunks):
            spool.write(rest.read())  # what is left after the marker
            spool.seek(0)
            kept.file(member, path, spool)


def _spooled(chunks: Iterator[bytes], spool: IO[bytes]) -> Iterator[bytes]:
    """``chunks``, each written to ``spool`` as it passes."""
    for chunk in chunks:
        spool.write(chunk)
        yield chunk


def _renamed(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """``member`` under its normalised name (a hard link to its target's normalised name)."""
    if member.islnk():
        return member.replace(name=path, linkname=_normalised(member.linkname) or "", deep=False)
    return member.replace(name=path, deep=False)


def _normalised(name: str) -> str | None:
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or None


@contextlib.contextmanager
def _inflated(raw: IO[bytes]) -> Iterator[IO[bytes]]:
    """The layer's tar stream; a compressed one inflated ahead, in a thread of its own."""
    head = raw.read(len(_ZSTD_MAGIC))
    raw.seek(0)
    if head.startswith(_GZIP_MAGIC):
        inflating = cast(IO[bytes], _GzipReader(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
    elif head.startswith(_ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        inflating = cast(IO[bytes], reader)
    else:
        yield raw
        return
    with inflating, _ReadAhead(inflating) as ahead:
        yield cast(IO[bytes], io.BufferedReader(ahead, _CHUNK))


class _ReadAhead(io.RawIOBase):
    """``source`` read in chunks by a thread, up to :data:`_AHEAD` chunks ahead of the
    reader: inflating releases the GIL, so it runs beside the walk of the tar."""

    def __init__(self, source: IO[bytes]) -> None:
        self._source = source
        self._chunks: queue.Queue[bytes | BaseException] = queue.Queue(_AHEAD)
        self._pending = memoryview(b"")
        self._ended = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._fill, name="inflate", daemon=True)
        self._thread.start()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Buffer) -> int:
        target = memoryview(buffer).cast("B")
        while not self._pending:
            if self._ended:
                return 0
            chunk = self._chunks.get()
            if isinstance(chunk, BaseException):
                self._ended = True
                raise chunk
            self._ended = not chunk
            self._pending = memoryview(chunk)
        count = min(len(target), len(self._pending))
        target[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        self._stopping.set()
        while self._thread.is_alive():  # unblock a put into a full queue
            with contextlib.suppress(queue.Empty):
                self._chunks.get(timeout=0.05)
        super().close()

    def _fill(self) -> None:
        try:
            while not self._stopping.is_set():
                chunk = self._source.read(_CHUNK)
                self._put(chunk)
                if not chunk:
                    return
        except Exception as error:  # raised in the reader's thread
            self._put(error)

    def _put(self, item: bytes | BaseException) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(queue.Full):
                self._chunks.put(item, timeout=0.05)
                return


# The digest of the evidence of a layer that holds none.
EMPTY_EVIDENCE = _empty_evidence()
