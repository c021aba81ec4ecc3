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
from service.vulndb.cve import Assessment
from service.vulndb.model import CvssScore, Severity
from service.vulndb.severity import cvss_version
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
    severity_source: str = ""  # who rated it (osv, ubuntu, ...); "" when nobody did
    cvss_score: float | None = None  # of the highest-scoring vector, v3.x or 4.0, else v2
    cvss_vector: str | None = None
    cvss_v2_score: float | None = None  # per CVSS version, its highest-scoring vector
    cvss_v2_vector: str | None = None
    cvss_v3_score: float | None = None
    cvss_v3_vector: str | None = None
    cvss_v4_score: float | None = None
    cvss_v4_vector: str | None = None
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

    def assessment(self) -> Assessment:
        """The advisory's own rating, as the matcher weighs it against NVD's and the CVE's."""
        return Assessment(
            source=self.severity_source or self.source,
            severity=self.severity,
            v2=_score(self.cvss_v2_vector, self.cvss_v2_score),
            v3=_score(self.cvss_v3_vector, self.cvss_v3_score),
            v4=_score(self.cvss_v4_vector, self.cvss_v4_score),
        )

    def validate_versions(self) -> None:
        """Raise UnparseableVersionError now rather than at match time."""
        _ = self.compiled_ranges


def _score(vector: str | None, score: float | None) -> CvssScore | None:
    if vector is None or score is None:
        return None
    return CvssScore(version=cvss_version(vector), vector=vector, score=score)


def cvss_fields(rated: Assessment) -> dict[str, float | str | None]:
    """An assessment's scores as an advisory's (or a finding's) ``cvss_*`` fields."""
    best = rated.best
    fields: dict[str, float | str | None] = {
        "cvss_score": best.score if best else None,
        "cvss_vector": best.vector if best else None,
    }
    for name, score in (("v2", rated.v2), ("v3", rated.v3), ("v4", rated.v4)):
        fields[f"cvss_{name}_score"] = score.score if score else None
        fields[f"cvss_{name}_vector"] = score.vector if score else None
    return fields


class SkipReason(StrEnum):
    """Why an ``affected`` entry of a record cannot be matched (the rest of the record is)."""

    NO_PACKAGE = "no package"  # GIT-only entries of OSS-Fuzz and CVE-derived records
    UNSUPPORTED_ECOSYSTEM = "unsupported ecosystem"
    NO_VERSION_RANGE = "no version range or version"  # only GIT ranges, no versions listed
    UNPARSEABLE_VERSION = "unparseable version"
    NOTICE = "notice of per-CVE records"  # Ubuntu's USN: its CVEs have their own records


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
