"""Match a catalog's packages against the advisories in the vulnerability database.

One finding per (vulnerability, package): advisories that name each other
(id or alias) are merged, the CVE id is the primary id when there is one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Protocol

from service.catalog.model import Catalog
from service.vulndb.ecosystems import matchable
from service.vulndb.model import Finding, LookupKey, PackageKey, PackageRef, Severity, sort_findings
from service.vulndb.records import Advisory
from service.vulndb.versions import VersionKey, parse_version

logger = logging.getLogger(__name__)


class AdvisoryIndex(Protocol):
    """What the matcher needs from the database (VulnStore implements it)."""

    def revision(self) -> int: ...

    def advisories(
        self, keys: Iterable[PackageKey]
    ) -> Mapping[PackageKey, tuple[Advisory, ...]]: ...


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
        findings: list[Finding] = []
        for key, ref in wanted:
            known = self._memo.get(key)
            if known is None:
                known = self._memo[key] = _evaluate(key, candidates, ref)
            findings.extend(
                f if f.package == ref else f.model_copy(update={"package": ref}) for f in known
            )
        return sort_findings(findings)


def match(catalog: Catalog, db: AdvisoryIndex) -> list[Finding]:
    """All findings for ``catalog``, sorted by (package key, vulnerability id)."""
    return Matcher(db).match(catalog)


def _evaluate(
    key: LookupKey,
    candidates: Mapping[PackageKey, tuple[Advisory, ...]],
    ref: PackageRef,
) -> list[Finding]:
    ecosystem, name, version = key
    advisories = candidates.get((ecosystem, name), ())
    if not advisories:
        return []
    try:
        installed = parse_version(ecosystem, version)
    except ValueError as error:  # UnparseableVersionError, or a crafted version
        logger.warning("cannot match %s %s %s: %s", ref.type, ref.name, ref.version, error)
        return []
    return _merge(ref, installed, [a for a in advisories if a.affects(installed)])


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


def _merge(ref: PackageRef, installed: VersionKey, hits: list[Advisory]) -> list[Finding]:
    findings = []
    for group in _groups(hits):
        ids = {a.id for a in group} | {alias for a in group for alias in a.aliases}
        primary = _primary(ids)
        scored = max(group, key=lambda a: (a.cvss_score or -1.0, a.severity.rank))
        scored_v3 = max(group, key=lambda a: a.cvss_v3_score or -1.0)
        fixes: dict[str, Advisory] = {}
        for advisory in group:
            for fixed in advisory.fixed_versions(installed):
                fixes.setdefault(fixed, advisory)
        published = [a.published or a.modified for a in fixes.values()]
        findings.append(
            Finding(
                id=primary,
                aliases=tuple(sorted(ids - {primary})),
                severity=max((a.severity for a in group), key=_rank),
                cvss_score=scored.cvss_score,
                cvss_vector=scored.cvss_vector,
                cvss_v3_score=scored_v3.cvss_v3_score,
                cvss_v3_vector=scored_v3.cvss_v3_vector,
                package=ref,
                fixed_versions=tuple(sorted(fixes)),
                fix_available=bool(fixes),
                fix_published=min((p for p in published if p is not None), default=None),
                source=",".join(sorted({a.source for a in group})),
                summary=next((a.summary for a in group if a.summary), ""),
            )
        )
    return findings


def _rank(severity: Severity) -> int:
    return severity.rank
