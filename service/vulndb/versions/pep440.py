"""PyPI versions: PEP 440 as ``packaging`` orders them, legacy strings as pip used to.

OSV's PyPI data still names releases from before PEP 440 (``0.7.10p1``,
``1.0.beta``, ``0.1-bulbasaur``). ``packaging`` < 22 ordered such strings with its
``LegacyVersion``: below every PEP 440 version, by zero-padded numeric and
``*``-prefixed alphabetic parts. osv-scanner orders them the same way; so does this.
"""

from __future__ import annotations

import re
from typing import Any

from packaging.version import InvalidVersion, Version

from service.vulndb.versions.base import UnparseableVersionError, VersionKey, bounded

_LEGACY_PARTS = re.compile(r"(\d+|[a-z]+|\.|-)")
_LEGACY_REPLACEMENTS = {"pre": "c", "preview": "c", "-": "final-", "rc": "c", "dev": "@"}


def _legacy_parts(version: str) -> tuple[str, ...]:
    """``packaging`` 21's ``_legacy_cmpkey`` parts (its epoch of -1 is the caller's 0)."""
    parts: list[str] = []
    for raw in (*_LEGACY_PARTS.split(version.lower()), "final"):
        part = _LEGACY_REPLACEMENTS.get(raw, raw)
        if not part or part == ".":
            continue
        if part[0] in "0123456789":
            parts.append(part.zfill(8))
            continue
        part = "*" + part
        if part < "*final":
            while parts and parts[-1] == "*final-":
                parts.pop()
        while parts and parts[-1] == "00000000":
            parts.pop()
        parts.append(part)
    return tuple(parts)


class LegacyVersion:
    """A pre-PEP 440 version: below every PEP 440 one, ordered by its parts among its kind."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str, ...]) -> None:
        self.parts = parts

    def __lt__(self, other: Any) -> bool:
        return not isinstance(other, LegacyVersion) or self.parts < other.parts

    def __gt__(self, other: Any) -> bool:  # Version < LegacyVersion asks this
        return isinstance(other, LegacyVersion) and self.parts > other.parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LegacyVersion) and self.parts == other.parts

    def __hash__(self) -> int:
        return hash(self.parts)


def parse(text: str) -> VersionKey:
    version = bounded(text, "PEP 440")
    try:
        return Version(version)
    except InvalidVersion:
        pass
    if not version.strip():
        raise UnparseableVersionError("PEP 440: empty version")
    return LegacyVersion(_legacy_parts(version))
