"""Semantic versions: npm and crates.io as node-semver orders them, Go as golang.org/x/mod.

Precedence per SemVer 2.0: major, minor, patch as numbers; a pre-release sorts below
its release; pre-release identifiers compare numerically when numeric (and below
alphanumeric ones), else as ASCII text; fewer identifiers sort first; build metadata
is ignored.
"""

from __future__ import annotations

import re

from service.vulndb.versions.base import UnparseableVersionError, VersionKey, bounded

# node-semver's loose grammar (``v``/``=``/space prefix, leading zeros, ``1.2.3beta``),
# widened to a missing minor or patch (``1.2``: what OSV and crates data also write).
_LOOSE = re.compile(
    r"[v=\s]*(\d+)(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-?((?:\d*[A-Za-z-][A-Za-z0-9-]*|\d+)(?:\.(?:\d*[A-Za-z-][A-Za-z0-9-]*|\d+))*))?"
    r"(?:\+[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)?"
)
# golang.org/x/mod/semver: ``v`` required (added here: OSV's Go data omits it), no leading
# zeros, ``v1`` and ``v1.2`` are shorthands that take no pre-release or build.
_NUMBER = r"(0|[1-9][0-9]*)"
_GO_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_GO = re.compile(
    rf"v{_NUMBER}(?:\.{_NUMBER}(?:\.{_NUMBER}"
    rf"(?:-({_GO_PRE_ID}(?:\.{_GO_PRE_ID})*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)


def _key(major: str, minor: str | None, patch: str | None, pre: str | None) -> VersionKey:
    core = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return (core, 1, ())
    ids = tuple((0, int(i), "") if i.isdigit() else (1, 0, i) for i in pre.split("."))
    return (core, 0, ids)


def parse(text: str) -> VersionKey:
    """npm and crates.io versions (node-semver's loose parse)."""
    found = _LOOSE.fullmatch(bounded(text, "semver").strip())
    if found is None:
        raise UnparseableVersionError(f"semver: {text!r}")
    return _key(*found.groups())


def parse_go(text: str) -> VersionKey:
    """Go module versions with or without ``v``; the toolchain's ``go1.21.0`` too."""
    version = bounded(text, "Go").strip()
    version = "v" + version.removeprefix("go").removeprefix("v")
    found = _GO.fullmatch(version)
    if found is None:
        raise UnparseableVersionError(f"Go: {text!r} is not a semantic version")
    return _key(*found.groups())
