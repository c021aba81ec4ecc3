"""An evidence image's files as one filesystem: what Syft's squashed view of it holds.

The evidence layers (see :mod:`service.layers.reader`) are applied lowest first as the
OCI image spec says — a whiteout deletes a path and everything under it, an opaque
directory hides every lower entry beneath it, an entry replaces what was at its path
and, if that was a directory, everything under it — keeping each regular file's layer
and content (up to a limit) and each symlink's target. Paths are resolved as Syft's
resolver resolves them: every symlink on the way followed, relative ones from the
directory holding them.
"""

from __future__ import annotations

import io
import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from service.layers.reader import OPAQUE, WHITEOUT
from service.layers.tarstream import TarStream

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Symlinks followed while resolving one path before it counts as a loop (Linux's limit).
_MAX_LINKS = 40


# Files larger than this are not read (their content is None).
MAX_CONTENT = 64 << 20
_HEAD = 4


@dataclass(frozen=True, slots=True)
class Node:
    """A regular file (``link`` None) or a symlink, and the layer that wrote it. A
    file's bytes are read when asked for, where they lie in the uncompressed layer
    (``blob`` from ``offset``), or given as ``data``."""

    layer: str
    link: str | None = None
    blob: Path | None = None
    offset: int = 0
    size: int = 0
    data: bytes | None = None

    @property
    def content(self) -> bytes | None:
        """The file's bytes; None when more than :data:`MAX_CONTENT`."""
        if self.data is not None:
            return self.data if len(self.data) <= MAX_CONTENT else None
        return None if self.size > MAX_CONTENT else self._read(self.size)

    @property
    def head(self) -> bytes:
        """The file's first bytes (enough to tell an executable)."""
        return self.data[:_HEAD] if self.data is not None else self._read(min(_HEAD, self.size))

    def open(self) -> IO[bytes]:
        """The file's bytes as a seekable file, read only where a reader asks (a zip
        reader: its directory and the entries it reads)."""
        if self.data is not None or self.blob is None:
            return io.BytesIO(self.data or b"")
        return io.BufferedReader(_FileView(self.blob, self.offset, self.size))

    def _read(self, count: int) -> bytes:
        if self.blob is None or count == 0:
            return b""
        with self.blob.open("rb") as raw:
            return _pread(raw.fileno(), count, self.offset, self.blob)


def _pread(fd: int, count: int, offset: int, blob: Path) -> bytes:
    """``count`` bytes at ``offset`` of the open ``blob``; OSError if it ends first."""
    data = os.pread(fd, count, offset)
    if len(data) != count:
        raise OSError(f"{blob} ends inside a file it holds")
    return data


class _FileView(io.RawIOBase):
    """``size`` bytes of ``blob`` from ``offset``, read with pread."""

    def __init__(self, blob: Path, offset: int, size: int) -> None:
        self._blob = blob
        self._fd = os.open(blob, os.O_RDONLY)
        self._offset = offset
        self._size = size
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._size}[whence]
        if base + offset < 0:
            raise OSError(f"seek before the start of a file in {self._blob}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: WriteableBuffer) -> int:
        wanted = max(0, min(len(memoryview(buffer)), self._size - self._position))
        data = _pread(self._fd, wanted, self._offset + self._position, self._blob)
        memoryview(buffer).cast("B")[: len(data)] = data
        self._position += len(data)
        return len(data)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class HardLink(Exception):
    """An evidence layer holds a hard link, which this view does not model."""


class SquashedTree:
    """The regular files and symlinks of an evidence image, by path (no leading slash)."""

    def __init__(self, nodes: dict[str, Node]) -> None:
        self.nodes = nodes

    @classmethod
    def of(cls, layers: Sequence[tuple[str, Path]]) -> SquashedTree:
        """The tree of the evidence ``layers`` (digest, uncompressed tar), lowest first,
        read from the tar headers alone. Raises :class:`HardLink` for a hard link."""
        nodes: dict[str, Node] = {}
        directories: set[str] = set()  # every ancestor of a path written so far
        for digest, blob in layers:
            with blob.open("rb") as raw:
                stream = TarStream(raw)
                added: dict[str, Node] = {}
                gone: set[str] = set()  # paths this layer deletes or replaces
                below: set[str] = set()  # directories whose lower content it hides
                for entry in stream:
                    path = entry.name.strip("/")
                    directory, name = posixpath.split(path)
                    if name == OPAQUE:
                        below.add(directory)
                    elif name.startswith(WHITEOUT):
                        deleted = posixpath.join(directory, name[len(WHITEOUT) :])
                        gone.add(deleted)
                        below.add(deleted)
                    elif entry.islnk():
                        raise HardLink(path)
                    elif entry.issym():
                        added[path] = Node(digest, link=entry.linkname)
                    elif entry.isreg():
                        added[path] = Node(
                            digest, blob=blob, offset=stream.position, size=entry.size
                        )
                    elif entry.isdir():
                        gone.add(path)  # a directory replaces a file or symlink
            # a file or symlink replacing a directory hides what was under it; a
            # directory implied by an added path replaces a file or symlink there
            below |= {path for path in added if path in directories}
            gone |= {parent for parent in _parents(added) if parent in nodes}
            _apply(nodes, gone, below, added)
            _add_ancestors(directories, added)
        return cls(nodes)

    def files(self) -> Iterator[tuple[str, Node]]:
        """Every regular file, by path."""
        return ((path, node) for path, node in self.nodes.items() if node.link is None)

    def symlinks(self) -> Iterator[tuple[str, str]]:
        """Every symlink: its path and target."""
        return ((path, node.link) for path, node in self.nodes.items() if node.link is not None)

    def resolve(self, path: str) -> str | None:
        """The regular file ``path`` (absolute or not) leads to, following every
        symlink on the way; None when it leads nowhere, to a loop or to no file."""
        real = self._follow(path)
        if real is None:
            return None
        node = self.nodes.get(real)
        return real if node is not None and node.link is None else None

    def _follow(self, path: str) -> str | None:
        pending = [part for part in path.split("/") if part not in ("", ".")]
        resolved: list[str] = []
        links = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join((*resolved, part))
            node = self.nodes.get(candidate)
            if node is not None and node.link is not None:
                links += 1
                if links > _MAX_LINKS:
                    return None
                target = [p for p in node.link.split("/") if p not in ("", ".")]
                if node.link.startswith("/"):
                    resolved = []
                pending = target + pending
                continue
            if node is not None and pending:
                return None  # a file where a directory would be
            resolved.append(part)
        return "/".join(resolved)


def _apply(nodes: dict[str, Node], gone: set[str], below: set[str], added: dict[str, Node]) -> None:
    """Apply one layer: the paths it deletes and everything below the directories it
    hides (``""``: the root) go first, then its entries are added. A layer that only
    adds (most do) costs no pass over the paths below it."""
    if gone or below:
        everything = "" in below
        doomed = [path for path in nodes if everything or path in gone or _under(path, below)]
        for path in doomed:
            del nodes[path]
    nodes.update(added)


def _parents(paths: Iterable[str]) -> set[str]:
    """Every directory holding one of ``paths``, each once."""
    found: set[str] = set()
    _add_ancestors(found, paths)
    return found


def _add_ancestors(directories: set[str], paths: Iterable[str]) -> None:
    """Add every ancestor directory of ``paths`` to ``directories`` (stopping at one
    already there: its own ancestors are too)."""
    for path in paths:
        cut = path.rfind("/")
        while cut > 0 and path[:cut] not in directories:
            directories.add(path[:cut])
            cut = path.rfind("/", 0, cut)


def _under(path: str, directories: set[str]) -> bool:
    """Whether one of ``directories`` is an ancestor of ``path``."""
    cut = path.find("/")
    while cut != -1:
        if path[:cut] in directories:
            return True
        cut = path.find("/", cut + 1)
    return False
