"""Debian and Ubuntu versions, ordered as ``dpkg --compare-versions`` orders them.

``[epoch:]upstream[-revision]``: the epoch is a number, the revision is what follows
the last ``-``. Upstream and revision compare as alternating non-digit and digit runs;
in a non-digit run letters sort before other characters and ``~`` before everything,
even the end of the string (``1.0~rc1 < 1.0``); digit runs compare as numbers.
"""

from __future__ import annotations

import re

from service.vulndb.versions.base import UnparseableVersionError, VersionKey, bounded

_RUNS = re.compile(rb"(\D*)(\d*)")
_END = ((0,), 0)  # what a run compares as once the string has ended


def _weight(byte: int) -> int:
    if byte == 0x7E:  # ~
        return -1
    if 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A:  # ASCII letters
        return byte
    return byte + 256


def _part_key(part: bytes) -> tuple[tuple[tuple[int, ...], int], ...]:
    """(non-digit weights + end, number) per run, closed by the end pair.

    Every key has a first run (``""`` reads as ``0``, as in dpkg) and only the first run
    can have an empty non-digit part, so two keys differ at the first run where dpkg's
    comparison differs, also when one string is shorter."""
    runs = [
        ((*(_weight(b) for b in letters), 0), int(digits or b"0"))
        for letters, digits in _RUNS.findall(part)
        if letters or digits
    ]
    return (*(runs or [_END]), _END)


def parse(text: str) -> VersionKey:
    version = bounded(text, "dpkg").strip()
    if not version:
        raise UnparseableVersionError("dpkg: empty version")
    epoch = 0
    if ":" in version:
        head, version = version.split(":", 1)
        if not head.isascii() or not head.isdigit():
            raise UnparseableVersionError(f"dpkg: epoch of {text!r} is not a number")
        epoch = int(head)
    upstream, _, revision = version.rpartition("-") if "-" in version else (version, "", "")
    if not upstream:
        raise UnparseableVersionError(f"dpkg: {text!r} has no upstream version")
    if any(c.isspace() for c in version):
        raise UnparseableVersionError(f"dpkg: {text!r} contains white space")
    return (epoch, _part_key(upstream.encode()), _part_key(revision.encode()))
