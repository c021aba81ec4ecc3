"""Deterministic layer tarballs: fixed mtimes, owners and order, so digests are reproducible.

A layer is described as ``{path: entry}`` where an entry is raw ``bytes`` (a 0644 file),
a :class:`File` (bytes with a mode), a :class:`Dir`, a :class:`Symlink`, a
:class:`Hardlink`, a :class:`Whiteout` (deletes a lower-layer path) or a
:class:`HostTree` (a directory on disk copied recursively under ``path``).  Missing
parent directories are added as 0755.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from typing_extensions import Buffer

FIXED_MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z; every entry gets this mtime
COMPRESS_LEVEL = 6  # any fixed level gives reproducible digests; 9 is 3x slower for ~5%


@dataclass(frozen=True)
class File:
    data: bytes
    mode: int = 0o644


@dataclass(frozen=True)
class Dir:
    mode: int = 0o755


@dataclass(frozen=True)
class Symlink:
    target: str


@dataclass(frozen=True)
class Hardlink:
    """A hard link to ``target``, a path written before it in the same layer."""

    target: str


@dataclass(frozen=True)
class Whiteout:
    """Delete ``path`` from lower layers (written as ``dir/.wh.name``)."""


@dataclass(frozen=True)
class HostTree:
    """Copy the directory ``root`` recursively (regular files, dirs, symlinks only)."""

    root: Path


Entry = bytes | File | Dir | Symlink | Hardlink | Whiteout | HostTree
LayerEntries = Mapping[str, Entry]


@dataclass(frozen=True)
class LayerBlob:
    """A gzip layer written to disk: ``digest`` of the gzip, ``diff_id`` of the tar."""

    path: Path
    digest: str
    diff_id: str
    size: int


class _HashingWriter(io.RawIOBase):
    """Pass bytes through to ``sink`` while hashing and counting them."""

    def __init__(self, sink: IO[bytes] | gzip.GzipFile) -> None:
        super().__init__()
        self._sink = sink
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        data = bytes(data)
        self._sink.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def _normalise(path: str, entry: Entry) -> str:
    clean = PurePosixPath("/", path).as_posix().lstrip("/")
    if (not clean and not isinstance(entry, HostTree)) or ".." in PurePosixPath(clean).parts:
        raise ValueError(f"layer path must be a relative path inside the image: {path!r}")
    return clean


def _info(name: str, kind: bytes, mode: int, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = linkname
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _host_tree(prefix: str, root: Path) -> Iterator[tuple[tarfile.TarInfo, Path | None]]:
    """Walk ``root`` in sorted order; yields tar headers and the file to read (if any)."""
    for current, dirs, files in os.walk(root):
        dirs.sort()
        base = Path(current)
        rel = base.relative_to(root).as_posix()
        here = prefix if rel == "." else f"{prefix}/{rel}".lstrip("/")
        if here:
            yield _info(here, tarfile.DIRTYPE, stat.S_IMODE(base.lstat().st_mode)), None
        for name in sorted(files + [d for d in dirs if (base / d).is_symlink()]):
            path = base / name
            st = path.lstat()
            member = f"{here}/{name}".lstrip("/")
            if stat.S_ISLNK(st.st_mode):
                yield _info(member, tarfile.SYMTYPE, 0o777, linkname=os.readlink(path)), None
            elif stat.S_ISREG(st.st_mode):
                mode = stat.S_IMODE(st.st_mode)
                yield _info(member, tarfile.REGTYPE, mode, size=st.st_size), path


def _members(entries: LayerEntries) -> Iterator[tuple[tarfile.TarInfo, bytes | Path | None]]:
    normalised = {_normalise(path, entry): entry for path, entry in entries.items()}
    explicit_dirs = {p for p, e in normalised.items() if isinstance(e, Dir | HostTree)}
    parents = {
        parent.as_posix()
        for path in normalised
        for parent in PurePosixPath(path).parents
        if parent.as_posix() != "."
    }
    for parent in sorted(parents - explicit_dirs):
        yield _info(parent, tarfile.DIRTYPE, 0o755), None
    for path in sorted(normalised):
        entry = normalised[path]
        if isinstance(entry, bytes):
            entry = File(entry)
        if isinstance(entry, File):
            yield _info(path, tarfile.REGTYPE, entry.mode, size=len(entry.data)), entry.data
        elif isinstance(entry, Dir):
            yield _info(path, tarfile.DIRTYPE, entry.mode), None
        elif isinstance(entry, Symlink):
            yield _info(path, tarfile.SYMTYPE, 0o777, linkname=entry.target), None
        elif isinstance(entry, Hardlink):
            yield _info(path, tarfile.LNKTYPE, 0o644, linkname=entry.target), None
        elif isinstance(entry, Whiteout):
            name = PurePosixPath(path)
            yield _info((name.parent / f".wh.{name.name}").as_posix(), tarfile.REGTYPE, 0o644), b""
        else:
            yield from _host_tree(path, entry.root)


def write_tar(entries: LayerEntries, sink: IO[bytes]) -> None:
    """Write the uncompressed, deterministic tar for ``entries`` to ``sink``."""
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, content in _members(entries):
            if isinstance(content, bytes):
                tar.addfile(info, io.BytesIO(content))
            elif isinstance(content, Path):
                with content.open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)


def write_gzip_layer(entries: LayerEntries, blobs_dir: Path) -> LayerBlob:
    """Write ``entries`` as a gzip layer blob under ``blobs_dir`` (named by its digest)."""
    blobs_dir.mkdir(parents=True, exist_ok=True)
    partial = blobs_dir / f".partial-{os.getpid()}"
    with partial.open("wb") as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=compressed, mtime=0, compresslevel=COMPRESS_LEVEL
        ) as gz:
            uncompressed = _HashingWriter(gz)
            with io.BufferedWriter(uncompressed, buffer_size=1 << 20) as buffered:
                write_tar(entries, buffered)
    digest = compressed.sha256.hexdigest()
    final = blobs_dir / digest
    partial.replace(final)
    return LayerBlob(
        path=final,
        digest=f"sha256:{digest}",
        diff_id=f"sha256:{uncompressed.sha256.hexdigest()}",
        size=compressed.size,
    )
