"""Write a tar stream of members copied from another, as :mod:`service.layers.tarstream`
walks it: a layer's evidence is such a copy, under normalised names.

A large layer's evidence copies a few thousand members (symlinks, package databases and
manifests). :mod:`tarfile` parses, checks and packs a whole header for each (~30 µs); here
a member's own 512-byte header is copied with its name, link name and size replaced and
its checksum summed again, whenever they fit its fields (ASCII, at most 100 bytes) and
it has no PAX records. Otherwise tarfile's PAX header for the same member is written. The
stream ends as tarfile ends one: two zero blocks, padded to a whole record.
"""

from __future__ import annotations

import tarfile
from typing import IO

from service.layers.tarstream import BLOCK, USTAR, Entry, header_checksum

_RECORD = 20 * BLOCK
_CHUNK = 1 << 20
_NAME = slice(0, 100)
_SIZE = slice(124, 136)
_CHECKSUM = slice(148, 156)
_LINK = slice(157, 257)
_MAGIC = slice(257, 263)
_PREFIX = slice(345, 500)
_MAX_SIZE = 8**11 - 1  # eleven octal digits


class TarCopy:
    """Members written to ``sink``; :meth:`close` ends the archive."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._written = 0

    def add(
        self,
        member: Entry,
        name: str,
        linkname: str | None = None,
        content: IO[bytes] | None = None,
        size: int = 0,
    ) -> None:
        """``member`` as ``name`` (``linkname``: its link's target, if not the member's
        own) with ``size`` bytes of ``content``."""
        link = member.linkname if linkname is None else linkname
        header = _copied_header(member, name, link, size)
        if header is None:
            info = member.tarinfo(name, linkname, size)
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        self._write(header)
        if size:
            self._copy(content, size)

    def close(self) -> None:
        self._write(bytes(2 * BLOCK))
        self._write(bytes(-self._written % _RECORD))

    def _copy(self, content: IO[bytes] | None, size: int) -> None:
        left = size
        while left:
            chunk = content.read(min(left, _CHUNK)) if content is not None else b""
            if not chunk:
                raise tarfile.ReadError(f"a member's content ended {left} bytes short")
            self._write(chunk)
            left -= len(chunk)
        self._write(bytes(-size % BLOCK))

    def _write(self, data: bytes) -> None:
        self._sink.write(data)
        self._written += len(data)


def _copied_header(member: Entry, name: str, link: str, size: int) -> bytes | None:
    """The member's own header as ``name``, linking to ``link``, with ``size`` bytes of
    content; None when they do not fit its fields or PAX records say more than it."""
    if member.pax or size > _MAX_SIZE or not (name.isascii() and link.isascii()):
        return None
    raw_name, raw_link = name.encode(), link.encode()
    if len(raw_name) > 100 or len(raw_link) > 100:
        return None
    header = bytearray(member.header)
    header[_NAME] = raw_name.ljust(100, b"\0")
    header[_LINK] = raw_link.ljust(100, b"\0")
    header[_SIZE] = b"%011o\0" % size
    if header[_MAGIC] == USTAR:
        header[_PREFIX] = bytes(155)  # the name is whole: no prefix to join it to
    header[_CHECKSUM] = b"%06o\0 " % header_checksum(header)
    return bytes(header)
