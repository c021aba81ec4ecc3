"""Match a catalog's packages against the advisories in the vulnerability database.

One finding per (vulnerability, package): advisories that name each other
(id or alias) are merged, the CVE id is the primary id when there is one. What the
CVE feeds (NVD, CVE records, KEV, EPSS) say about the finding's CVEs is applied here,
so a new import of them changes findings on the next match.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from service.catalog.model import Catalog
from service.vulndb.cve import Assessment, CveFacts
from service.vulndb.ecosystems import matchable
from service.vulndb.model import Finding, LookupKey, PackageKey, PackageRef, Severity, sort_findings
from service.vulndb.records import Advisory, cvss_fields
from service.vulndb.versions import VersionKey, parse_version

logger = logging.getLogger(__name__)


class AdvisoryIndex(Protocol):
    """What the matcher needs from the database (VulnStore implements it)."""

    def revision(self) -> int: ...

    def advisories(
        self, keys: Iterable[PackageKey]
    ) -> Mapping[PackageKey, tuple[Advisory, ...]]: ...

    def cve_facts(self, ids: Iterable[str]) -> Mapping[str, CveFacts]: ...


class Matcher:
    """Matches catalogs against ``db``, memoising findings per (ecosystem, name, version).

    Re-evaluating many catalogs that share packages evaluates each distinct
    package version once per database revision.
    """

    def __init__(self, db: AdvisoryIndex) -> None:
        self.db = db
        self._memo: dict[LookupKey, list[Finding]] = {}
        self._revision = -1

    def match(self, catalog: Catalog) -> list[Finding]:
        """All findings for ``catalog``, sorted by (package key, vulnerability id)."""
        return self.match_packages((p.lookup, p.ref) for p in matchable(catalog))

    def match_packages(self, packages: Iterable[tuple[LookupKey, PackageRef]]) -> list[Finding]:
        """The findings of ``packages`` (each by its lookup key and reference, in catalog
        order): what :meth:`match` gives for those packages of their catalog."""
        revision = self.db.revision()
        if revision != self._revision:
            self._memo, self._revision = {}, revision
        wanted = list(packages)
        missing = {(e, n) for (e, n, v), _ in wanted if (e, n, v) not in self._memo}
        candidates = self.db.advisories(missing) if missing else {}
        hits = {key: _hits(key, candidates, ref) for key, ref in wanted if key not in self._memo}
        cves = {
            name
            for _, affecting in hits.values()
            for advisory in affecting
            for name in (advisory.id, *advisory.aliases)
            if name.startswith("CVE-")
        }
        facts = self.db.cve_facts(cves) if cves else {}
        findings: list[Finding] = []
        for key, ref in wanted:
            known = self._memo.get(key)
            if known is None:
                installed, affecting = hits[key]
                known = self._memo[key] = _merge(ref, installed, affecting, facts)
            findings.extend(
                f if f.package == ref else f.model_copy(update={"package": ref}) for f in known
            )
        return sort_findings(findings)

    def with_signals(self, findings: Sequence[Finding]) -> list[Finding]:
        """``findings`` with the exploitation signals (KEV, EPSS) the CVE feeds now hold
        for their ids: what matching again would give after a KEV or EPSS import."""
        cves = {name for f in findings for name in (f.id, *f.aliases) if name.startswith("CVE-")}
        facts = self.db.cve_facts(cves) if cves else {}
        refreshed = []
        for finding in findings:
            known = [facts[i] for i in sorted({finding.id, *finding.aliases}) if i in facts]
            signals = _signals(known)
            unchanged = signals["kev"] == finding.kev and signals["epss"] == finding.epss
            refreshed.append(finding if unchanged else finding.model_copy(update=signals))
        return refreshed


def match(catalog: Catalog, db: AdvisoryIndex) -> list[Finding]:
    """All findings for ``catalog``, sorted by (package key, vulnerability id)."""
    return Matcher(db).match(catalog)


def _hits(
    key: LookupKey,
    candidates: Mapping[PackageKey, tuple[Advisory, ...]],
    ref: PackageRef,
) -> tuple[VersionKey | None, list[Advisory]]:
    """The installed version, parsed, and the advisories affecting it."""
    ecosystem, name, version = key
    advisories = candidates.get((ecosystem, name), ())
    if not advisories:
        return None, []
    try:
        installed = parse_version(ecosystem, version)
    except ValueError as error:  # UnparseableVersionError, or a crafted version
        logger.warning("cannot match %s %s %s: %s", ref.type, ref.name, ref.version, error)
        return None, []
    return installed, [a for a in advisories if a.affects(installed)]


def _groups(hits: list[Advisory]) -> list[list[Advisory]]:
    """Union advisories that share an id or alias."""
    parent: dict[str, str] = {}

    def find(name: str) -> str:
        while parent.setdefault(name, name) != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for advisory in hits:
        for alias in advisory.aliases:
            parent[find(alias)] = find(advisory.id)
    grouped: dict[str, list[Advisory]] = {}
    for advisory in hits:
        grouped.setdefault(find(advisory.id), []).append(advisory)
    return list(grouped.values())


def _primary(ids: set[str]) -> str:
    cves = sorted(i for i in ids if i.startswith("CVE-"))
    return cves[0] if cves else sorted(ids)[0]


def _merge(
    ref: PackageRef,
    installed: VersionKey | None,
    hits: list[Advisory],
    facts: Mapping[str, CveFacts],
) -> list[Finding]:
    if installed is None:
        return []
    findings = []
    for group in _groups(hits):
        ids = {a.id for a in group} | {alias for a in group for alias in a.aliases}
        primary = _primary(ids)
        known = [facts[i] for i in sorted(ids) if i in facts]
        fixes: dict[str, Advisory] = {}
        for advisory in group:
            for fixed in advisory.fixed_versions(installed):
                fixes.setdefault(fixed, advisory)
        published = [a.published or a.modified for a in fixes.values()]
        findings.append(
            Finding(
                id=primary,
                aliases=tuple(sorted(ids - {primary})),
                **_rating(group, known),
                package=ref,
                fixed_versions=tuple(sorted(fixes)),
                fix_available=bool(fixes),
                fix_published=min((p for p in published if p is not None), default=None),
                source=",".join(sorted({a.source for a in group})),
                summary=next((a.summary for a in group if a.summary), ""),
                **_signals(known),
            )
        )
    return findings


def _signals(facts: list[CveFacts]) -> dict[str, Any]:
    """KEV (the first CVE listed) and EPSS (the CVE most likely exploited) of a finding
    from what the feeds say about its CVEs, in id order."""
    return {
        "kev": next((f.kev for f in facts if f.kev), None),
        "epss": max((f.epss for f in facts if f.epss), key=lambda e: e.score, default=None),
    }


def _rating(group: list[Advisory], facts: list[CveFacts]) -> dict[str, Any]:
    """Severity, its source and CVSS per version, from the assessments in precedence order
    (the distro's, the advisory's, NVD's, the CVE record's CNA, then ADP); within a source,
    the highest-scoring first."""
    assessments = sorted(
        [a.assessment() for a in group] + [a for f in facts for a in f.assessments],
        key=lambda a: (a.tier, -(a.best.score if a.best else -1.0), -a.severity.rank),
    )
    rated = next((a for a in assessments if a.severity is not Severity.UNKNOWN), None)
    scored = [a for a in assessments if a.best is not None]
    fields = cvss_fields(
        Assessment(
            source="",
            v2=next((a.v2 for a in assessments if a.v2), None),
            v3=next((a.v3 for a in assessments if a.v3), None),
            v4=next((a.v4 for a in assessments if a.v4), None),
        )
    )
    best = rated.best if rated and rated.best else scored[0].best if scored else None
    fields["cvss_score"] = best.score if best else None
    fields["cvss_vector"] = best.vector if best else None
    return {
        **fields,
        "severity": rated.severity if rated else Severity.UNKNOWN,
        "severity_source": rated.source if rated else None,
    }
