"""NuGet versions, ordered as NuGet's ``VersionComparer.Default`` orders them.

``major[.minor[.patch[.revision]]][-label[.label…]][+metadata]``: numbers by value
(missing = 0), a pre-release below its release, labels numerically when numeric
(and below text), text labels case-insensitively; metadata is ignored.
"""

from __future__ import annotations

import re

from service.vulndb.versions.base import UnparseableVersionError, VersionKey, bounded

_NUGET = re.compile(
    r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)


def parse(text: str) -> VersionKey:
    found = _NUGET.fullmatch(bounded(text, "NuGet").strip())
    if found is None:
        raise UnparseableVersionError(f"NuGet: {text!r}")
    *numbers, labels = found.groups()
    core = tuple(int(n or 0) for n in numbers)
    if labels is None:
        return (core, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in labels.split("."))
    return (core, 0, parts)
