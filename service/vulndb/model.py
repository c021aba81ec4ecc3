"""Findings: one per (vulnerability, package), the same shape whatever matched it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from pydantic import Field

from service.model_base import FrozenModel


class Severity(StrEnum):
    UNKNOWN = "unknown"
    NEGLIGIBLE = "negligible"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: Severity) -> bool:
        return self.rank >= other.rank


_RANK = {s: i for i, s in enumerate(Severity)}


class PackageRef(FrozenModel):
    name: str
    version: str
    type: str
    purl: str | None = None


class VexState(FrozenModel):
    """The VEX statement that suppressed a finding: it stays listed, no rule counts it."""

    status: str  # not_affected | fixed
    justification: str | None = None
    source: str  # the document (its id, or the file / attestation it came from)


PackageKey = tuple[str, str]  # (ecosystem, normalised package name), as advisories name it
LookupKey = tuple[str, str, str]  # a PackageKey plus the installed version to match


@dataclass(frozen=True)
class MatchablePackage:
    """A catalog package as the matcher takes it: its lookup key, how findings name it and
    its key in the catalog (``Package.key``)."""

    lookup: LookupKey
    ref: PackageRef
    key: str


class NotEvaluated(FrozenModel):
    """A package the matcher could not audit, and why: it is neither clean nor vulnerable."""

    package: PackageRef
    reason: str


class CvssScore(FrozenModel):
    """A CVSS base vector and its base score; ``version`` is 2.0, 3.0, 3.1 or 4.0."""

    version: str
    vector: str
    score: float = Field(ge=0.0, le=10.0)


class KnownExploited(FrozenModel):
    """The CVE's entry in CISA's Known Exploited Vulnerabilities catalog."""

    date_added: date
    due_date: date | None = None
    ransomware: bool = False  # knownRansomwareCampaignUse: "Known"


class ExploitPrediction(FrozenModel):
    """FIRST's EPSS: the probability of exploitation in the next 30 days, and its
    percentile among all scored CVEs."""

    score: float = Field(ge=0.0, le=1.0)
    percentile: float = Field(ge=0.0, le=1.0)


class Finding(FrozenModel):
    id: str  # CVE id when there is one
    aliases: tuple[str, ...] = ()
    severity: Severity = Severity.UNKNOWN
    severity_source: str | None = None  # who rated it: ubuntu, osv, nvd, cve-cna, cve-adp
    cvss_score: float | None = None  # the severity's CVSS (else the first known): any version
    cvss_vector: str | None = None
    cvss_v2_score: float | None = None  # per CVSS version, from the first source that has one
    cvss_v2_vector: str | None = None
    cvss_v3_score: float | None = None  # only ever a CVSS v3.x vector and score
    cvss_v3_vector: str | None = None
    cvss_v4_score: float | None = None
    cvss_v4_vector: str | None = None
    package: PackageRef
    fixed_versions: tuple[str, ...] = ()
    fix_available: bool = False
    fix_published: datetime | None = None  # when the fix was first known (policy grace periods)
    source: str  # tollgate-osv, tollgate-alpine-secdb, trivy, ...
    summary: str = ""
    vex: VexState | None = None
    kev: KnownExploited | None = None
    epss: ExploitPrediction | None = None

    @property
    def key(self) -> tuple[str, str]:
        package = self.package
        return (self.id, package.purl or f"{package.type}:{package.name}@{package.version}")


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in their canonical order: by package key, then vulnerability id."""
    return sorted(findings, key=lambda f: (f.key[1], f.id))
