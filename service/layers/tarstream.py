"""Walk a tar stream header by header, reading only the content a caller asks for.

A layer of a few hundred megabytes holds tens of thousands of entries, and most of
them are only listed (path, type, size): Python's :mod:`tarfile` builds a full
``TarInfo`` and copies every skipped file through small reads. This walker keeps the
inflated stream in large chunks, unpacks each 512-byte header in place and steps over
content by moving an offset, so content that is not asked for is never copied.

It reads what container runtimes write and read (Go's ``archive/tar``): ustar and GNU
headers, PAX extended headers (``path``, ``linkpath``, ``size``; global headers too),
GNU long names and long link names, base-256 numbers, and old GNU sparse headers with
their extension blocks (stepped over; their content is not a plain file). A header whose
checksum is wrong is an error, as it is to the runtime that would unpack the layer.
Errors are :class:`tarfile.ReadError`, as from :mod:`tarfile`.
"""

from __future__ import annotations

import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
_READ = 1 << 22
_MAX_META = 1 << 20  # a PAX header or GNU long name longer than this is not a name

REGULAR = frozenset({b"0", b"\0", b"7"})  # "7": contiguous file, a regular file everywhere
HARD_LINK = b"1"
SYMLINK = b"2"
DIRECTORY = b"5"
_PAX, _PAX_GLOBAL = b"x", b"g"
_GNU_LONG_NAME, _GNU_LONG_LINK, _GNU_SPARSE = b"L", b"K", b"S"
_META = frozenset({_PAX, _PAX_GLOBAL, _GNU_LONG_NAME, _GNU_LONG_LINK})
USTAR = b"ustar\x00"  # POSIX: ``prefix`` holds the head of a long name; GNU's magic differs


class Readable(Protocol):
    """Where the archive comes from: ``read`` returns at most ``size`` bytes, fewer when
    that is what is at hand, and ``b""`` only at the end."""

    def read(self, size: int, /) -> bytes: ...


@dataclass(slots=True)
class Entry:
    """One member: its name as stored (not normalised), type flag and content size."""

    name: str
    type: bytes
    size: int  # bytes of content that follow the header in the archive
    linkname: str
    header: bytes  # the member's own 512-byte header, for a copy of it (see tarinfo)
    pax: dict[str, str] = field(default_factory=dict)
    sparse: bool = False  # content is a sparse map and data, not the file's bytes

    def isreg(self) -> bool:
        return self.type in REGULAR and not self.sparse

    def isdir(self) -> bool:
        return self.type == DIRECTORY

    def issym(self) -> bool:
        return self.type == SYMLINK

    def islnk(self) -> bool:
        return self.type == HARD_LINK

    def tarinfo(self, name: str, linkname: str | None = None, size: int = 0) -> tarfile.TarInfo:
        """The member as a :class:`tarfile.TarInfo` named ``name`` with ``size`` bytes of
        content, to write it elsewhere."""
        info = tarfile.TarInfo.frombuf(self.header, "utf-8", "surrogateescape")
        info.name = name
        info.size = size
        info.linkname = self.linkname if linkname is None else linkname
        for key in ("uname", "gname"):
            if key in self.pax:
                setattr(info, key, self.pax[key])
        for key in ("uid", "gid", "mtime"):
            if key in self.pax:
                setattr(info, key, _pax_number(self.pax[key], key))
        return info


class TarStream:
    """The entries of the tar archive read from ``stream``, in order.

    While an entry is current, :meth:`read` and :meth:`chunks` give its content; what
    is left unread is stepped over when the walk moves on.
    """

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self._data = b""
        self._pos = 0  # the next unread byte of _data
        self._left = 0  # unread content of the current entry
        self._skip = 0  # its padding, past the content
        self._offset = 0  # bytes of the archive consumed before _data

    def __iter__(self) -> Iterator[Entry]:
        global_pax: dict[str, str] = {}
        pending: dict[str, str] = {}
        first = True
        while True:
            self._advance(self._left + self._skip)
            self._left = self._skip = 0
            block = self._take_header(first)
            if block is None or block == _ZERO_BLOCK:
                return
            first = False
            entry = self._parse(block)
            if entry.type in _META:
                if entry.size > _MAX_META:
                    what = _kind(entry.type)
                    raise tarfile.ReadError(f"tar {what} of {entry.size} bytes: refusing it")
                data = self.read()
                if entry.type == _PAX_GLOBAL:
                    global_pax.update(_pax_records(data))
                elif entry.type == _PAX:
                    pending.update(_pax_records(data))
                elif entry.type == _GNU_LONG_NAME:
                    pending["path"] = _decode(data.split(b"\0", 1)[0])
                else:
                    pending["linkpath"] = _decode(data.split(b"\0", 1)[0])
                continue
            if global_pax or pending:
                self._apply({**global_pax, **pending}, entry)
                pending = {}
            if entry.type == _GNU_SPARSE:
                self._sparse_extensions(block)
            yield entry

    def read(self, limit: int = -1) -> bytes:
        """The current entry's content not read yet (at most ``limit`` bytes)."""
        count = self._left if limit < 0 else min(limit, self._left)
        self._fill(count)
        data = self._data[self._pos : self._pos + count]
        self._pos += count
        self._left -= count
        return data

    def chunks(self) -> Iterator[bytes]:
        """The current entry's unread content in the chunks it arrives in."""
        while self._left:
            if self._pos >= len(self._data):
                self._fill(1)
            count = min(self._left, len(self._data) - self._pos)
            whole = self._pos == 0 and count == len(self._data)
            chunk = self._data if whole else self._data[self._pos : self._pos + count]
            self._pos += count
            self._left -= count
            yield chunk

    def _parse(self, block: bytes) -> Entry:
        if not _checksum_matches(block, _number(block[148:156], "checksum")):
            at = self._consumed - BLOCK
            raise tarfile.ReadError(f"tar header at byte {at} has a bad checksum")
        kind = block[156:157]
        name = block[0:100].split(b"\0", 1)[0]
        if block[257:263] == USTAR and block[345] != 0:
            name = block[345:500].split(b"\0", 1)[0] + b"/" + name
        if kind == b"\0" and name.endswith(b"/"):  # pre-POSIX archives mark directories so
            kind = DIRECTORY
        size = _number(block[124:136], "size")
        self._left = size
        self._skip = -size % BLOCK
        linkname = _decode(block[157:257].split(b"\0", 1)[0])
        entry = Entry(_decode(name), kind, size, linkname, block)
        entry.sparse = kind == _GNU_SPARSE
        return entry

    def _apply(self, pax: dict[str, str], entry: Entry) -> None:
        """PAX records (or GNU long names) override the header they precede."""
        entry.pax = pax
        entry.name = pax.get("GNU.sparse.name", pax.get("path", entry.name))
        entry.linkname = pax.get("linkpath", entry.linkname)
        if "size" in pax:
            entry.size = self._left = _pax_number(pax["size"], "size")
            self._skip = -entry.size % BLOCK
        if any(key.startswith("GNU.sparse.") for key in pax):
            entry.sparse = True

    def _sparse_extensions(self, block: bytes) -> None:
        """Step over an old GNU sparse header's extension blocks (before its content)."""
        extended = block[482] != 0
        while extended:
            self._fill(BLOCK)
            extension = self._data[self._pos : self._pos + BLOCK]
            self._pos += BLOCK
            extended = extension[504] != 0

    def _take_header(self, first: bool) -> bytes | None:
        self._fill(BLOCK, allow_end=True)
        available = len(self._data) - self._pos
        if available == 0:
            if first:
                raise tarfile.ReadError("empty tar stream: no header")
            return None  # the end without end-of-archive blocks: Go's reader accepts it too
        if available < BLOCK:
            at = self._consumed
            raise tarfile.ReadError(f"tar stream truncated in a header at byte {at}")
        block = self._data[self._pos : self._pos + BLOCK]
        self._pos += BLOCK
        return block

    @property
    def _consumed(self) -> int:
        return self._offset + self._pos

    @property
    def position(self) -> int:
        """Where in the archive the next unread byte is: while an entry's content is
        unread, where that content starts."""
        return self._consumed

    def _advance(self, count: int) -> None:
        """Step over ``count`` bytes, reading and dropping whole chunks past the buffer."""
        buffered = len(self._data) - self._pos
        if count <= buffered:
            self._pos += count
            return
        count -= buffered
        self._offset += len(self._data)
        self._data, self._pos = b"", 0
        while count:
            chunk = self._stream.read(_READ)
            if not chunk:
                raise tarfile.ReadError("tar stream truncated in a member's content")
            if len(chunk) > count:
                self._data, self._pos = chunk, count
                return
            self._offset += len(chunk)
            count -= len(chunk)

    def _fill(self, count: int, allow_end: bool = False) -> None:
        """At least ``count`` unread bytes buffered (fewer only at the end, if allowed)."""
        if len(self._data) - self._pos >= count:
            return
        if self._pos == len(self._data):  # drained: the next chunk is the buffer, uncopied
            self._offset += self._pos
            self._data, self._pos = self._stream.read(_READ), 0
            if len(self._data) >= count or (not self._data and allow_end):
                return
        parts = [self._data[self._pos :]]
        have = len(parts[0])
        self._offset += self._pos
        while have < count:
            chunk = self._stream.read(_READ)
            if not chunk:
                if allow_end:
                    break
                raise tarfile.ReadError("tar stream truncated in a member's content")
            parts.append(chunk)
            have += len(chunk)
        self._data, self._pos = b"".join(parts), 0


def byte_sum(block: bytes | bytearray) -> int:
    """The sum of a 512-byte block's bytes, in C: Adler-32's first half is one plus the
    sum modulo 65521, exact for 256 bytes (at most 65,280); ``sum(block)`` iterates in
    the interpreter, a tenth of a second for the 30,000 headers of a large layer."""
    low, high = zlib.adler32(block[:256]) & 0xFFFF, zlib.adler32(block[256:]) & 0xFFFF
    return low + high - 2


def header_checksum(block: bytes | bytearray) -> int:
    """A header's checksum as ustar defines it: its bytes summed, unsigned, with the
    checksum field read as eight spaces."""
    return byte_sum(block) - sum(block[148:156]) + 8 * 0x20


def _checksum_matches(block: bytes, stored: int) -> bool:
    """:func:`header_checksum`, or, as some old tars summed signed bytes (which Go's
    reader and tarfile accept too), the signed sum."""
    unsigned = header_checksum(block)
    if unsigned == stored:
        return True
    high = sum(1 for byte in block if byte >= 0x80) - sum(1 for b in block[148:156] if b >= 0x80)
    return unsigned - 0x100 * high == stored


def _number(field_bytes: bytes, what: str) -> int:
    """An octal number, or base-256 (GNU) when the first byte's high bit is set."""
    if field_bytes[0] & 0x80:
        value = int.from_bytes(field_bytes[1:], "big")
        return value - (1 << (8 * len(field_bytes) - 8)) if field_bytes[0] == 0xFF else value
    text = field_bytes.split(b"\0", 1)[0].strip()
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise tarfile.ReadError(f"tar header has a malformed {what} field: {text[:16]!r}") from None


def _pax_records(data: bytes) -> dict[str, str]:
    """``"%d %s=%s\\n"`` records; a malformed one is an error, as in Go's reader."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos)
        try:
            length = int(data[pos:space])
        except ValueError:
            raise tarfile.ReadError("tar PAX header has a malformed record") from None
        record = data[space + 1 : pos + length]
        if space < 0 or length <= 0 or pos + length > len(data) or not record.endswith(b"\n"):
            raise tarfile.ReadError("tar PAX header has a malformed record")
        key, sep, value = record[:-1].partition(b"=")
        if not sep:
            raise tarfile.ReadError("tar PAX header has a malformed record")
        records[_decode(key)] = _decode(value)
        pos += length
    return records


def _pax_number(value: str, key: str) -> int:
    try:
        return int(float(value)) if key == "mtime" else int(value)
    except ValueError:
        raise tarfile.ReadError(f"tar PAX header has a malformed {key}: {value[:16]!r}") from None


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _kind(kind: bytes) -> str:
    return "PAX header" if kind in (_PAX, _PAX_GLOBAL) else "GNU long name"
