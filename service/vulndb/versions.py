"""Version semantics per ecosystem and OSV range evaluation.

Each ecosystem gets a *scheme*: a function turning a version string into a
totally ordered, hashable key. PEP 440 uses ``packaging`` (so ``2.2`` equals
``2.2.0``); the others use ``univers`` (dpkg epochs and ``~``, apk, rpm,
semver, Go with ``v`` prefixes and pseudo-versions, Maven, NuGet, RubyGems).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from packaging.version import InvalidVersion as PEP440Invalid
from packaging.version import Version as PEP440Version
from univers import versions as uv

logger = logging.getLogger(__name__)


class VersionKey(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...
    def __hash__(self) -> int: ...


class UnparseableVersionError(ValueError):
    """A version string the ecosystem's scheme cannot order."""


Scheme = Callable[[str], VersionKey]


def _univers(cls: type[Any]) -> Scheme:
    def parse(version: str) -> VersionKey:
        try:
            key: VersionKey = cls(version)
        except (uv.InvalidVersion, ValueError, TypeError) as error:
            raise UnparseableVersionError(f"{cls.__name__}: {version!r}: {error}") from error
        return key

    return parse


def _pep440(version: str) -> VersionKey:
    try:
        return PEP440Version(version)
    except PEP440Invalid as error:
        raise UnparseableVersionError(f"PEP 440: {version!r}") from error


_SEMVER = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


def _semver(version: str) -> VersionKey:
    """SemVer 2.0 precedence as a native tuple (univers' objects are ~10x slower to compare).

    A missing minor/patch counts as 0; a pre-release sorts below its release;
    numeric identifiers compare as numbers and below alphanumeric ones.
    """
    found = _SEMVER.match(version.strip())
    if found is None:
        raise UnparseableVersionError(f"semver: {version!r}")
    major, minor, patch, pre = found.groups()
    core = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return (core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (core, 0, parts)


def _go(version: str) -> VersionKey:
    """Go module versions: semver with an optional ``v`` (pseudo-versions are pre-releases)."""
    return _semver(version.removeprefix("v").removeprefix("go"))


_SCHEMES: dict[str, Scheme] = {
    "PyPI": _pep440,
    "npm": _semver,
    "Go": _go,
    "crates.io": _semver,
    "Maven": _univers(uv.MavenVersion),
    "NuGet": _univers(uv.NugetVersion),
    "RubyGems": _univers(uv.RubygemsVersion),
    "Debian": _univers(uv.DebianVersion),
    "Ubuntu": _univers(uv.DebianVersion),
    "Alpine": _univers(uv.AlpineLinuxVersion),
    "Red Hat": _univers(uv.RpmVersion),
    "Rocky Linux": _univers(uv.RpmVersion),
    "AlmaLinux": _univers(uv.RpmVersion),
}


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` → ``Debian``; ``PyPI`` → ``PyPI``."""
    return ecosystem.split(":", 1)[0]


def is_supported(ecosystem: str) -> bool:
    return base_ecosystem(ecosystem) in _SCHEMES


def scheme_for(ecosystem: str, range_type: str = "ECOSYSTEM") -> Scheme:
    """The ordering for versions of ``ecosystem`` (SEMVER ranges always use semver)."""
    if range_type == "SEMVER":
        return _go if base_ecosystem(ecosystem) == "Go" else _semver
    try:
        return _SCHEMES[base_ecosystem(ecosystem)]
    except KeyError:
        raise UnparseableVersionError(f"no version scheme for ecosystem {ecosystem!r}") from None


def same_version(a: VersionKey, b: VersionKey) -> bool:
    """Equal by order (``2.2`` and ``2.2.0`` under PEP 440), not by spelling."""
    return not a < b and not b < a


@lru_cache(maxsize=200_000)
def parse_version(ecosystem: str, version: str) -> VersionKey:
    """Parse (cached: installed versions repeat across catalogs)."""
    return scheme_for(ecosystem)(version)


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
        # Only ``<`` is used: univers' ``<=`` is wrong for some schemes (apk ``-r9 <= -r10``).
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
    for kind, text in events:
        if kind == "limit":
            if text != "*":
                limits.append(scheme(text))
            continue
        if kind not in _ORDER:
            raise UnparseableVersionError(f"unknown range event {kind!r}")
        key = None if (kind == _INTRODUCED and text == "0") else scheme(text)
        parsed.append(_Event(kind, key, text))
    parsed.sort(key=_sort_key)
    return CompiledRange(tuple(parsed), tuple(limits))


def _sort_key(event: _Event) -> tuple[int, Any, int]:
    if event.key is None:
        return (0, 0, 0)
    return (1, _Sortable(event.key), _ORDER[event.kind])


@dataclass(frozen=True, slots=True)
class _Sortable:
    key: VersionKey

    def __lt__(self, other: _Sortable) -> bool:
        return bool(self.key < other.key)
