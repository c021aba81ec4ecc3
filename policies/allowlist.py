"""Allowlist entries: which findings they accept for an image, and which have expired.

An entry matches a finding by vulnerability id (or alias), optionally by package (name
or purl; a purl without version matches every version) and by repository glob. It
applies through its ``expires`` date inclusive; after that it is reported as expired and
no longer accepts anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fnmatch import fnmatchcase

from policies.decision import AllowlistedFinding, ExpiredAllowlistEntry
from policies.model import AllowlistEntry
from service.vulndb.model import Finding


@dataclass(frozen=True)
class AllowlistOutcome:
    remaining: tuple[Finding, ...]
    allowlisted: tuple[AllowlistedFinding, ...]
    expired: tuple[ExpiredAllowlistEntry, ...]


def apply_allowlist(
    entries: tuple[AllowlistEntry, ...],
    findings: tuple[Finding, ...],
    *,
    repository: str,
    today: date,
) -> AllowlistOutcome:
    relevant = [entry for entry in entries if fnmatchcase(repository, entry.repository)]
    active = [e for e in relevant if e.expires is None or today <= e.expires]
    expired = tuple(
        _expired(e, e.expires) for e in relevant if e.expires is not None and today > e.expires
    )
    by_vulnerability: dict[str, list[AllowlistEntry]] = {}
    for entry in active:
        by_vulnerability.setdefault(entry.vulnerability.upper(), []).append(entry)

    remaining: list[Finding] = []
    allowlisted: list[AllowlistedFinding] = []
    for finding in findings:
        accepted_by = _match(by_vulnerability, finding) if by_vulnerability else None
        if accepted_by is None:
            remaining.append(finding)
        else:
            allowlisted.append(
                AllowlistedFinding(
                    vulnerability=finding.id,
                    package=finding.package.purl or finding.package.name,
                    reason=accepted_by.reason,
                    author=accepted_by.author,
                    expires=accepted_by.expires,
                )
            )
    return AllowlistOutcome(tuple(remaining), tuple(allowlisted), expired)


def _match(
    by_vulnerability: dict[str, list[AllowlistEntry]], finding: Finding
) -> AllowlistEntry | None:
    for vulnerability in (finding.id, *finding.aliases):
        for entry in by_vulnerability.get(vulnerability.upper(), ()):
            if entry.package is None or _package_matches(entry.package, finding):
                return entry
    return None


def _package_matches(wanted: str, finding: Finding) -> bool:
    if not wanted.startswith("pkg:"):
        return wanted == finding.package.name
    purl = finding.package.purl
    if purl is None:
        return False
    if "@" in wanted:
        return purl.split("?")[0] == wanted.split("?", maxsplit=1)[0]
    return purl.split("@")[0].split("?")[0] == wanted


def _expired(entry: AllowlistEntry, expired_on: date) -> ExpiredAllowlistEntry:
    return ExpiredAllowlistEntry(
        vulnerability=entry.vulnerability,
        package=entry.package,
        repository=entry.repository,
        expired_on=expired_on,
        reason=entry.reason,
        author=entry.author,
    )
