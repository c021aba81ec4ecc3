"""Advisory records as Tollgate stores them, whatever feed they came from.

A feed yields :class:`VulnRecord` objects (one advisory, possibly affecting
several packages); the store keeps one :class:`Advisory` row per affected
(ecosystem, package) so lookups by package are one indexed query.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Literal

from service.model_base import FrozenModel
from service.vulndb.model import Severity
from service.vulndb.versions import (
    CompiledRange,
    UnparseableVersionError,
    VersionKey,
    compile_range,
    same_version,
    scheme_for,
)

EventKind = Literal["introduced", "fixed", "last_affected", "limit"]


class RangeEvent(FrozenModel):
    kind: EventKind
    version: str


class VersionRange(FrozenModel):
    type: Literal["ECOSYSTEM", "SEMVER"]
    events: tuple[RangeEvent, ...]


class Advisory(FrozenModel):
    """One advisory's statement about one package in one ecosystem."""

    id: str
    aliases: tuple[str, ...] = ()
    source: str  # label put on findings: tollgate-osv, tollgate-alpine-secdb, ...
    ecosystem: str  # PyPI, npm, Debian:12, Alpine:v3.11, ...
    package: str  # normalised name (see ecosystems.normalize_name)
    ranges: tuple[VersionRange, ...] = ()
    versions: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    cvss_score: float | None = None  # of the highest-scoring vector, v3.x or 4.0
    cvss_vector: str | None = None
    cvss_v3_score: float | None = None  # of the highest-scoring CVSS v3.x vector
    cvss_v3_vector: str | None = None
    summary: str = ""
    published: datetime | None = None
    modified: datetime | None = None

    @cached_property
    def compiled_ranges(self) -> tuple[CompiledRange, ...]:
        """Parsed once per loaded advisory (the store caches advisories)."""
        return tuple(
            compile_range(self.ecosystem, r.type, [(e.kind, e.version) for e in r.events])
            for r in self.ranges
        )

    @cached_property
    def listed_versions(self) -> tuple[VersionKey, ...]:
        """Explicit versions, sorted; ones the scheme cannot parse cannot be installed either."""
        scheme = scheme_for(self.ecosystem)
        keys = []
        for text in self.versions:
            try:
                keys.append(scheme(text))
            except UnparseableVersionError:
                continue
        return tuple(sorted(keys))

    def affects(self, version: VersionKey) -> bool:
        listed = self.listed_versions
        index = bisect_left(listed, version)
        if index < len(listed) and same_version(listed[index], version):
            return True
        return any(r.contains(version) for r in self.compiled_ranges)

    def fixed_versions(self, version: VersionKey) -> list[str]:
        """Fixes above the installed version, from the ranges that include it."""
        return [
            fix
            for r in self.compiled_ranges
            if r.contains(version)
            for fix in r.fixes_after(version)
        ]

    def validate_versions(self) -> None:
        """Raise UnparseableVersionError now rather than at match time."""
        _ = self.compiled_ranges


class SkipReason(StrEnum):
    """Why an ``affected`` entry of a record cannot be matched (the rest of the record is)."""

    NO_PACKAGE = "no package"  # GIT-only entries of OSS-Fuzz and CVE-derived records
    UNSUPPORTED_ECOSYSTEM = "unsupported ecosystem"
    NO_VERSION_RANGE = "no version range or version"  # only GIT ranges, no versions listed
    UNPARSEABLE_VERSION = "unparseable version"


class SkippedEntry(FrozenModel):
    """An ``affected`` entry left out of a record, with the reason."""

    package: str  # "ecosystem/name" as the entry names it, "" when it names none
    reason: SkipReason
    detail: str = ""


class VulnRecord(FrozenModel):
    """One advisory from a feed; ``advisories`` is empty when it is withdrawn.

    ``skipped`` holds the entries no version of a package can be matched against."""

    id: str
    modified: datetime | None = None
    withdrawn: bool = False
    advisories: tuple[Advisory, ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


class SkippedRecord(FrozenModel):
    """A malformed record a feed could not use, with the reason."""

    ref: str
    reason: str
