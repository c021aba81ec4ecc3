"""What CVE-keyed feeds say about a CVE: assessments (NVD, the CVE record's CNA and ADP
containers), CISA KEV and FIRST EPSS; and the order in which ratings are trusted.

A finding's severity comes from the first assessment, in :data:`PRECEDENCE` order, that
rates it: the distro's own rating for its packages, then the advisory's CVSS (or label),
then NVD's assessment, then the CVE record's CNA, then a CISA ADP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

from service.model_base import FrozenModel
from service.vulndb.model import CvssScore, ExploitPrediction, KnownExploited, Severity
from service.vulndb.severity import from_score, from_v2_score

DISTRO_SOURCES = frozenset({"ubuntu", "debian", "alpine", "redhat"})
NVD, CVE_CNA, CVE_ADP = "nvd", "cve-cna", "cve-adp"
PRECEDENCE = ("distro", "advisory", NVD, CVE_CNA, CVE_ADP)


class Assessment(FrozenModel):
    """One assessor's rating of a vulnerability: a label or CVSS, one score per version."""

    source: str  # ubuntu, osv, nvd, cve-cna, cve-adp, ...
    severity: Severity = Severity.UNKNOWN
    v2: CvssScore | None = None
    v3: CvssScore | None = None  # v3.1 or v3.0
    v4: CvssScore | None = None

    @property
    def tier(self) -> int:
        """Its place in :data:`PRECEDENCE`; any other source is an advisory's own."""
        if self.source in DISTRO_SOURCES:
            return 0
        return PRECEDENCE.index(self.source) if self.source in PRECEDENCE else 1

    @property
    def best(self) -> CvssScore | None:
        """The score its severity comes from: the higher of v3.x and 4.0, else v2."""
        modern = [s for s in (self.v3, self.v4) if s is not None]
        return max(modern, key=lambda s: s.score) if modern else self.v2


def assess(source: str, scores: Iterable[CvssScore]) -> Assessment:
    """An assessment from CVSS scores: the highest per version family, severity from the
    best (CVSS v2's own scale when v2 is all there is)."""
    family: dict[str, CvssScore] = {}
    for score in scores:
        key = score.version[0]  # "2", "3", "4"
        known = family.get(key)
        if known is None or (score.version, score.score) > (known.version, known.score):
            family[key] = score  # 3.1 over 3.0, then the higher score
    rated = Assessment(source=source, v2=family.get("2"), v3=family.get("3"), v4=family.get("4"))
    best = rated.best
    if best is None:
        return rated
    severity = from_v2_score(best.score) if best.version == "2.0" else from_score(best.score)
    return rated.model_copy(update={"severity": severity})


class CveFacts(FrozenModel):
    """What one CVE feed's record says about a CVE, or (merged) what all feeds say.

    ``withdrawn``: the CVE was rejected; its record's metrics no longer count."""

    id: str
    modified: datetime | None = None
    withdrawn: bool = False
    assessments: tuple[Assessment, ...] = ()
    kev: KnownExploited | None = None
    epss: ExploitPrediction | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()

    def merged(self, other: CveFacts) -> CveFacts:
        """These facts with ``other``'s added (a rejected record adds nothing)."""
        if other.withdrawn:
            return self
        return self.model_copy(
            update={
                "assessments": tuple(
                    sorted((*self.assessments, *other.assessments), key=lambda a: a.tier)
                ),
                "kev": self.kev or other.kev,
                "epss": self.epss or other.epss,
            }
        )
