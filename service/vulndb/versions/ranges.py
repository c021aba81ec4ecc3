"""OSV ranges: ``introduced``, ``fixed``, ``last_affected`` and ``limit`` events, per the spec."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from service.vulndb.versions.base import UnparseableVersionError, VersionKey
from service.vulndb.versions.schemes import scheme_for

_INTRODUCED, _FIXED, _LAST_AFFECTED = "introduced", "fixed", "last_affected"
_ORDER = {_INTRODUCED: 0, _FIXED: 1, _LAST_AFFECTED: 1}


@dataclass(frozen=True, slots=True)
class _Event:
    kind: str
    key: VersionKey | None  # None: introduced "0" (before everything)
    text: str


@dataclass(frozen=True, slots=True)
class CompiledRange:
    """One OSV range with parsed events, evaluated per the OSV spec."""

    events: tuple[_Event, ...]
    limits: tuple[VersionKey, ...]

    def contains(self, version: VersionKey) -> bool:
        # A version at or above every limit is outside the range (OSV's ``before_limits``).
        if self.limits and all(not version < limit for limit in self.limits):
            return False
        affected = False
        for event in self.events:
            if event.kind == _INTRODUCED:
                if event.key is None or not version < event.key:
                    affected = True
            elif event.kind == _FIXED:
                if event.key is not None and not version < event.key:
                    affected = False
            elif event.key is not None and event.key < version:  # last_affected
                affected = False
        return affected

    def fixes_after(self, version: VersionKey) -> list[str]:
        """Fixed versions of this range above ``version`` (what to upgrade to)."""
        return [
            e.text
            for e in self.events
            if e.kind == _FIXED and e.key is not None and version < e.key
        ]


def compile_range(
    ecosystem: str, range_type: str, events: Sequence[tuple[str, str]]
) -> CompiledRange:
    """Parse ``(kind, version)`` events once; raise on a version the scheme rejects."""
    scheme = scheme_for(ecosystem, range_type)
    parsed: list[_Event] = []
    limits: list[VersionKey] = []
    unlimited = False  # a ``limit: "*"`` event: the range has no upper limit at all
    for kind, text in events:
        if kind == "limit":
            if text == "*":
                unlimited = True
            else:
                limits.append(scheme(text))
            continue
        if kind not in _ORDER:
            raise UnparseableVersionError(f"unknown range event {kind!r}")
        key = None if (kind == _INTRODUCED and text == "0") else scheme(text)
        parsed.append(_Event(kind, key, text))
    parsed.sort(key=_sort_key)
    return CompiledRange(tuple(parsed), () if unlimited else tuple(limits))


def _sort_key(event: _Event) -> tuple[int, Any, int]:
    if event.key is None:
        return (0, 0, 0)
    return (1, _Sortable(event.key), _ORDER[event.kind])


@dataclass(frozen=True, slots=True)
class _Sortable:
    key: VersionKey

    def __lt__(self, other: _Sortable) -> bool:
        return bool(self.key < other.key)
