"""Read one layer blob as a stream: inflate, walk its tar, keep what it contributes.

Nothing is written to disk but large executables kept as evidence. A compressed blob is
inflated beside the walk (:mod:`service.layers.inflate`). Member names are
normalised as the image filesystem applies them (``./etc/x`` and ``/etc/x`` are
``etc/x``) and resolved inside the root, as ``..`` at the root stays at the root.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import posixpath
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, cast

from service.errors import ImageError
from service.image.cache import BlobCache
from service.image.incoming import Follower
from service.image.inplace import InPlaceReader
from service.layers import evidence, secrets
from service.layers.inflate import Blob, tar_stream
from service.layers.model import EvidenceListing, LayerContents, LayerSecret, SecretKind
from service.layers.tarcopy import TarCopy
from service.layers.tarstream import Entry, TarStream

MAX_ENTRIES = 2_000_000  # beyond this a layer is refused: its listing would not fit in memory
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_EXECUTABLE_IN_MEMORY = 8 << 20  # an executable kept as evidence, past this: on disk


def _empty_evidence() -> str:
    sink = io.BytesIO()
    with _EvidenceTar(sink):
        pass
    return f"sha256:{hashlib.sha256(sink.getvalue()).hexdigest()}"


def read_layer(
    blob: Path | Follower | InPlaceReader, digest: str, evidence: IO[bytes] | None = None
) -> LayerContents:
    """What the layer ``blob`` contributes to an image; with ``evidence``, the entries
    Syft's catalogers read are written there as an uncompressed tar. ``blob``: a stored
    blob, or one being stored, read as it arrives, or one read in place (then the result
    waits for the blob to be verified: BlobNotStoredError if it is not)."""
    try:
        if not isinstance(blob, Path):
            return _read(blob, digest, evidence, blob.size)
        with blob.open("rb") as raw:
            return _read(raw, digest, evidence, lambda: blob.stat().st_size)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise ImageError(f"layer {digest} is not a readable tar stream: {error}") from error


def read_keeping_evidence(
    blobs: BlobCache, blob: Path | Follower | InPlaceReader, digest: str
) -> LayerContents:
    """:func:`read_layer` with the evidence published in ``blobs`` under the digest it
    hashes to (nothing if the read fails), that digest in the result."""
    with blobs.writer(None, f"evidence of layer {digest}") as sink:
        contents = read_layer(blob, digest, cast(IO[bytes], sink))
    return contents.model_copy(update={"evidence": sink.hasher.digest})


def _read(
    raw: Blob, digest: str, evidence: IO[bytes] | None, compressed_size: Callable[[], int]
) -> LayerContents:
    with tar_stream(raw, f"layer {digest}") as stream, _EvidenceTar(evidence) as kept:
        return _contents(TarStream(stream), kept, digest, compressed_size)


class _EvidenceTar:
    """The layer's evidence (see :mod:`service.layers.evidence`), or nothing without a sink."""

    def __init__(self, sink: IO[bytes] | None) -> None:
        self._tar = TarCopy(sink) if sink else None
        self._files: set[str] = set()  # regular: what a hard link may point to
        self._links: set[str] = set()  # hard links, devices
        self._symlinks: set[str] = set()
        self._deletes = False
        self.understood = True

    def __enter__(self) -> _EvidenceTar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tar is not None:
            self._tar.close()

    def entry(self, member: Entry, path: str) -> None:
        """A symlink, hard link, device, whiteout or opaque marker."""
        if self._tar is None:
            return
        if member.islnk():
            target = _normalised(member.linkname)
            if target not in self._files:
                if evidence.by_path(path):  # its content is in a file that was not kept
                    self.understood = False
                return
            self._tar.add(member, path, target)
            self._links.add(path)
            return
        self._tar.add(member, path)
        if path.rpartition("/")[2].startswith(WHITEOUT):
            self._deletes = True
        elif member.issym():
            self._symlinks.add(path)
        else:
            self._links.add(path)

    def file(self, member: Entry, path: str, content: IO[bytes]) -> None:
        if self._tar is None:
            return
        self._tar.add(member, path, content=content, size=member.size)
        self._files.add(path)

    @property
    def keeping(self) -> bool:
        return self._tar is not None

    def listing(self) -> EvidenceListing | None:
        """What the evidence tar holds, as :func:`service.layers.increment.listing_of`
        reads it back; None without a sink."""
        if self._tar is None:
            return None
        return EvidenceListing(
            files=frozenset(self._files | self._links),
            symlinks=frozenset(self._symlinks),
            deletes=self._deletes,
        )


def _contents(
    tar: TarStream, kept: _EvidenceTar, digest: str, compressed_size: Callable[[], int]
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
        if member.sparse:  # never written by image builders; its bytes are not read
            files[path] = member.size
            if evidence.by_path(path):
                kept.understood = False
            continue
        if not member.isreg():
            files[path] = 0
            kept.entry(member, path)
            continue
        files[path] = member.size
        kind = _regular(tar, member, path, kept)
        if kind is not None:
            found.append(LayerSecret(path=path, kind=kind))
    return LayerContents(
        digest=digest,
        compressed_size=compressed_size(),
        files=files,
        whiteouts=tuple(whiteouts),
        opaque=tuple(opaque),
        secrets=tuple(found),
        evidence_understood=kept.understood,
        evidence_listing=kept.listing(),
    )


def _regular(tar: TarStream, member: Entry, path: str, kept: _EvidenceTar) -> SecretKind | None:
    """Read what a regular file needs read: for secrets, and to keep it as evidence."""
    content = tar.read() if secrets.wanted(path, member.size) else None
    if kept.keeping:
        if evidence.by_path(path):
            # unread content is copied from the stream as the evidence tar asks for it
            source = io.BytesIO(content) if content is not None else cast(IO[bytes], tar)
            kept.file(member, path, source)
        else:
            head = content if content is not None else tar.read(evidence.EXECUTABLE_HEAD)
            if evidence.executable(head):
                rest = iter(()) if content is not None else tar.chunks()
                _executable(member, path, itertools.chain([head], rest), kept)
    return secrets.classify(path, content)


def _executable(member: Entry, path: str, chunks: Iterator[bytes], kept: _EvidenceTar) -> None:
    """Keep an executable that is evidence: held in memory, a large one in a temporary
    file, to look at its sections or markers."""
    spool: IO[bytes]
    if member.size <= _EXECUTABLE_IN_MEMORY:  # joined once: no buffer grown chunk by chunk
        spool = io.BytesIO(b"".join(chunks))
    else:
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed below
        for chunk in chunks:
            spool.write(chunk)
    with spool:
        if evidence.stored_executable(spool, member.size):
            spool.seek(0)
            kept.file(member, path, spool)


def _normalised(name: str) -> str | None:
    if name.startswith("./"):
        name = name[2:]
    if "//" in name or "/." in name or name.startswith((".", "/")) or name.endswith("/"):
        name = posixpath.normpath("/" + name).lstrip("/")  # what the fast path cannot be sure of
    return name or None


# The digest of the evidence of a layer that holds none.
EMPTY_EVIDENCE = _empty_evidence()
