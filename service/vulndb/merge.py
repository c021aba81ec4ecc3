"""Merge findings from several sources (Tollgate's matcher, Trivy, …) into one list.

One finding per (vulnerability, package) across all sources: two findings are the
same vulnerability when their ids or aliases meet (the CVE id becomes the primary
id), and the same package when type, name (by purl where there is one, so Maven
``group:artifact`` and purl qualifiers do not matter) and version agree. Aliases and
fixed versions are united; severity and CVSS come from the most confident finding
(a CVSS vector first, Tollgate's own record before another source's); ``source``
lists every source that reported it.
"""

from __future__ import annotations

from collections.abc import Sequence

from packageurl import PackageURL

from service.vulndb.ecosystems import language_ecosystem, normalize_name
from service.vulndb.model import Finding, PackageRef, Severity, sort_findings

_OWN_SOURCE_PREFIX = "tollgate-"

PackageIdentity = tuple[str, str, str]  # (type, normalised qualified name, version)


def merge_findings(*sources: Sequence[Finding]) -> list[Finding]:
    """Merged findings, sorted like ``match`` sorts them (package key, then id).

    On equal confidence the earlier source wins, so pass Tollgate's own findings first.
    """
    by_package: dict[PackageIdentity, list[Finding]] = {}
    for findings in sources:
        for finding in findings:
            by_package.setdefault(package_identity(finding.package), []).append(finding)
    merged = [
        _merge(group) for findings in by_package.values() for group in _same_vulnerability(findings)
    ]
    return sort_findings(merged)


def package_identity(ref: PackageRef) -> PackageIdentity:
    name = ref.name.replace(":", "/") if ref.type == "java" else ref.name
    if ref.purl:
        try:
            purl = PackageURL.from_string(ref.purl)
        except ValueError:
            pass
        else:
            name = f"{purl.namespace}/{purl.name}" if purl.namespace else purl.name
    ecosystem = language_ecosystem(ref.type)
    return ref.type, normalize_name(ecosystem, name) if ecosystem else name, ref.version


def _same_vulnerability(findings: list[Finding]) -> list[list[Finding]]:
    """Group findings whose ids/aliases meet, each group in the order the findings came."""
    groups: list[tuple[set[str], list[int]]] = []
    for position, finding in enumerate(findings):
        ids = {finding.id, *finding.aliases}
        joined = [g for g in groups if g[0] & ids]
        members = [position]
        for group in joined:
            groups.remove(group)
            ids |= group[0]
            members += group[1]
        groups.append((ids, members))
    return [[findings[i] for i in sorted(members)] for _, members in groups]


def _confidence(finding: Finding) -> tuple[bool, bool, bool, bool, bool]:
    """A CVSS vector (ours first), then a bare score, then any severity label (ours first)."""
    own = finding.source.startswith(_OWN_SOURCE_PREFIX)
    vector = finding.cvss_vector is not None
    return (
        vector,
        vector and own,
        finding.cvss_score is not None,
        finding.severity is not Severity.UNKNOWN,
        own,
    )


def _merge(group: list[Finding]) -> Finding:
    first = group[0]
    if len(group) == 1:
        return first
    ids = {i for f in group for i in (f.id, *f.aliases)}
    cves = sorted(i for i in ids if i.startswith("CVE-"))
    primary = cves[0] if cves else sorted(ids)[0]
    scored = max(group, key=_confidence)  # max keeps the first of equals
    scored_v3 = max(group, key=lambda f: f.cvss_v3_score or -1.0)
    fixed = sorted({v for f in group for v in f.fixed_versions})
    published = [f.fix_published for f in group if f.fix_published is not None]
    return Finding(
        id=primary,
        aliases=tuple(sorted(ids - {primary})),
        severity=scored.severity,
        cvss_score=scored.cvss_score,
        cvss_vector=scored.cvss_vector,
        cvss_v3_score=scored_v3.cvss_v3_score,
        cvss_v3_vector=scored_v3.cvss_v3_vector,
        package=first.package,
        fixed_versions=tuple(fixed),
        fix_available=bool(fixed) or any(f.fix_available for f in group),
        fix_published=min(published, default=None),
        source=",".join(sorted({s for f in group for s in f.source.split(",") if s})),
        summary=scored.summary or next((f.summary for f in group if f.summary), ""),
        suppressed_by=next((f.suppressed_by for f in group if f.suppressed_by), None),
    )
