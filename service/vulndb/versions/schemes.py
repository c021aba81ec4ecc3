"""Which version scheme orders each ecosystem's versions."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from service.vulndb.versions import apk, dpkg, maven, nuget, pep440, rpm, rubygems, semver
from service.vulndb.versions.base import UnparseableVersionError, VersionKey

Scheme = Callable[[str], VersionKey]

_SCHEMES: dict[str, Scheme] = {
    "PyPI": pep440.parse,
    "npm": semver.parse,
    "crates.io": semver.parse,
    "Go": semver.parse_go,
    "Maven": maven.parse,
    "NuGet": nuget.parse,
    "RubyGems": rubygems.parse,
    "Debian": dpkg.parse,
    "Ubuntu": dpkg.parse,
    "Alpine": apk.parse,
    "Red Hat": rpm.parse,
    "Rocky Linux": rpm.parse,
    "AlmaLinux": rpm.parse,
}


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` → ``Debian``; ``PyPI`` → ``PyPI``."""
    return ecosystem.split(":", 1)[0]


def is_supported(ecosystem: str) -> bool:
    return base_ecosystem(ecosystem) in _SCHEMES


def scheme_for(ecosystem: str, range_type: str = "ECOSYSTEM") -> Scheme:
    """The ordering for versions of ``ecosystem`` (SEMVER ranges always use semver).

    Every scheme raises :class:`UnparseableVersionError` for input it cannot order,
    oversized input included, and nothing else."""
    if range_type == "SEMVER":
        return semver.parse_go if base_ecosystem(ecosystem) == "Go" else semver.parse
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
