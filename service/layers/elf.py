"""What an ELF file's section header table says, read from a seekable copy of the file.

Syft's catalogers of executables find what they read by section: Go's build info in
``.go.buildinfo`` (or, in binaries older than that section, in the first writable
segment), cargo-auditable's ``.dep-v0``, the ``.note.package`` note, GraalVM's
``__svm_version_info`` symbol in a string table. Reading the table and a few sections
tells whether a library is one of those without searching all its bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

_MAGIC = b"\x7fELF"
_SHT_NOBITS = 8
_SHT_STRTAB = 3
_SHF_WRITE = 0x1
_SHN_XINDEX = 0xFFFF
_MAX_NAMES = 1 << 20  # a section-name table larger than this is not a real one
# (header after e_ident, section header) per ELF class; "<"/">" by byte order
_LAYOUT = {1: ("HHIIIIIHHHHHH", "IIIIIIIIII"), 2: ("HHIQQQIHHHHHH", "IIQQQQIIQQ")}


@dataclass(frozen=True)
class Section:
    name: bytes
    type: int
    flags: int
    offset: int
    size: int


def sections(file: IO[bytes], size: int) -> list[Section] | None:
    """The sections of the ELF file ``file`` (``size`` bytes), or None when it has no
    section header table that can be read (not ELF, stripped of it, or malformed)."""
    table = _table(file, size)
    if table is None:
        return None
    section_format, shoff, shnum, shstrndx = table
    entry_size = struct.calcsize(section_format)
    file.seek(shoff)
    data = file.read(shnum * entry_size)
    raw = [struct.unpack_from(section_format, data, i * entry_size) for i in range(shnum)]
    # (name, type, flags, addr, offset, size, ...) in both classes
    names_offset, names_size = raw[shstrndx][4], raw[shstrndx][5]
    if names_size > _MAX_NAMES or names_offset + names_size > size:
        return None
    file.seek(names_offset)
    names = file.read(names_size)
    found = []
    for name_at, kind, flags, _, offset, length, *_rest in raw:
        if kind != _SHT_NOBITS and offset + length > size:
            return None
        name = names[name_at:].split(b"\0", 1)[0]
        found.append(Section(name, kind, flags, offset, 0 if kind == _SHT_NOBITS else length))
    return found


def _table(file: IO[bytes], size: int) -> tuple[str, int, int, int] | None:
    """Where the section header table is: (entry format, offset, count, index of the
    section names), from the ELF header; None when there is none that can be read."""
    file.seek(0)
    ident = file.read(16)
    if len(ident) < 16 or not ident.startswith(_MAGIC) or ident[4] not in _LAYOUT:
        return None
    order = {1: "<", 2: ">"}.get(ident[5])
    if order is None:
        return None
    header_format, section_format = (order + f for f in _LAYOUT[ident[4]])
    header = file.read(struct.calcsize(header_format))
    if len(header) < struct.calcsize(header_format):
        return None
    fields = struct.unpack(header_format, header)
    shoff, shentsize, shnum, shstrndx = fields[5], fields[10], fields[11], fields[12]
    if (
        not shoff
        or not shnum
        or shstrndx in (0, _SHN_XINDEX)
        or shstrndx >= shnum
        or shentsize != struct.calcsize(section_format)
        or shoff + shnum * shentsize > size
    ):
        return None
    return section_format, shoff, shnum, shstrndx


def writable(found: list[Section]) -> Iterator[Section]:
    """Sections of the writable segments, where a Go build info can also be."""
    return (s for s in found if s.flags & _SHF_WRITE and s.size)


def string_tables(found: list[Section]) -> Iterator[Section]:
    """Sections holding symbol and other names."""
    return (s for s in found if s.type == _SHT_STRTAB and s.size)


def contains(file: IO[bytes], section: Section, marker: bytes, chunk: int = 1 << 20) -> bool:
    """Whether ``marker`` is within the bytes of ``section``."""
    file.seek(section.offset)
    left, tail = section.size, b""
    while left > 0:
        data = file.read(min(chunk, left))
        if not data:
            return False
        left -= len(data)
        window = tail + data
        if marker in window:
            return True
        tail = window[-len(marker) + 1 :]
    return False
