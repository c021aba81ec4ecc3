"""OSV importer: ``<ECOSYSTEM>/all.zip`` from the OSV bucket, a local .zip or a directory."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from service.vulndb.cve import assess
from service.vulndb.ecosystems import advisory_ecosystem, normalize_name
from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.documents import DocumentSource
from service.vulndb.model import CvssScore, Severity
from service.vulndb.records import (
    Advisory,
    RangeEvent,
    SkippedEntry,
    SkippedRecord,
    SkipReason,
    VersionRange,
    VulnRecord,
    cvss_fields,
)
from service.vulndb.severity import base_score, cvss_version, from_label
from service.vulndb.versions import UnparseableVersionError, is_supported

logger = logging.getLogger(__name__)

OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
SOURCE_LABEL = "tollgate-osv"
RATING_SOURCE = "osv"  # a finding's severity_source when the OSV record rated it
_DISTRO_CVE = re.compile(r"^[A-Z]+-(CVE-\d{4}-\d+)$")
_NOTICE = re.compile(r"^USN-\d+-\d+$")
_EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")


def bucket_url(ecosystem: str) -> str:
    return f"{OSV_BUCKET}/{ecosystem}/all.zip"


class MalformedRecordError(ValueError):
    """The document is not a usable OSV record."""


class OSVFeed(Feed):
    def __init__(
        self, ecosystem: str, location: str | None = None, *, client: httpx.Client | None = None
    ) -> None:
        self.source = f"osv:{ecosystem}"
        location = location or bucket_url(ecosystem)
        self.complete = location.endswith(".zip")  # OSV publishes an ecosystem as one zip
        self._documents = DocumentSource(location, client=client)

    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        for name, raw in self._documents.contents():
            try:
                yield parse_osv(json.loads(raw))
            except (
                ValueError,
                MalformedRecordError,
                ValidationError,
                UnparseableVersionError,
            ) as error:
                yield SkippedRecord(ref=name, reason=f"{type(error).__name__}: {error}")


def _str(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise MalformedRecordError(f"field {key!r} missing or not a string")
    return value


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _severity(entries: Any, label: Any) -> dict[str, Any]:
    """Advisory fields: the severity of the highest-scoring vector (v3.x or 4.0, else v2)
    or the record's own label, and the highest-scoring vector of each CVSS version."""
    rated = assess(
        RATING_SOURCE,
        (
            CvssScore(version=cvss_version(vector), vector=vector, score=score)
            for entry in _list(entries)
            if isinstance(entry, dict) and isinstance(vector := entry.get("score"), str)
            if (score := base_score(vector)) is not None
        ),
    )
    severity = rated.severity
    if rated.best is None:
        severity = from_label(label if isinstance(label, str) else None)
    return {
        "severity": severity,
        "severity_source": RATING_SOURCE if severity is not Severity.UNKNOWN else "",
        **cvss_fields(rated),
    }


def _distro_priority(affected: dict[str, Any], record_severity: Any) -> tuple[str, str] | None:
    """``("ubuntu", "medium")``: the distro's own rating of the package, when it has one
    (Ubuntu's priority, per package or as an ``Ubuntu`` severity entry; the Debian
    security tracker's urgency in osv.dev's ``DEBIAN-CVE`` records)."""
    specific = affected.get("ecosystem_specific")
    specific = specific if isinstance(specific, dict) else {}
    if _ecosystem_of(affected).startswith("Debian"):
        urgency = specific.get("urgency")  # "low**": rated from NVD's score, still Debian's
        rated = urgency.rstrip("*") if isinstance(urgency, str) else ""
        return ("debian", rated) if from_label(rated) is not Severity.UNKNOWN else None
    priority = specific.get("ubuntu_priority")
    if priority is None:
        priority = next(
            (
                entry.get("score")
                for entry in _list(affected.get("severity") or record_severity)
                if isinstance(entry, dict) and entry.get("type") == "Ubuntu"
            ),
            None,
        )
    if not isinstance(priority, str) or from_label(priority) is Severity.UNKNOWN:
        return None  # "untriaged"
    return "ubuntu", priority


def _ecosystem_of(affected: dict[str, Any]) -> str:
    package = affected.get("package")
    ecosystem = package.get("ecosystem") if isinstance(package, dict) else None
    return ecosystem if isinstance(ecosystem, str) else ""


def _notice(vuln_id: str, modified: datetime | None, data: dict[str, Any]) -> VulnRecord:
    """A distro's security notice (Ubuntu's USN) bundles fixes of CVEs the same feed holds
    one record each of (UBUNTU-CVE-…, with priorities): matching both would report each
    vulnerability twice, so the notice's entries are left out, counted."""
    return VulnRecord(
        id=vuln_id,
        modified=modified,
        skipped=tuple(
            SkippedEntry(package=_named(affected), reason=SkipReason.NOTICE)
            for affected in _list(data.get("affected"))
        ),
    )


def _named(affected: Any) -> str:
    package = affected.get("package") if isinstance(affected, dict) else None
    if not isinstance(package, dict):
        return ""
    return f"{package.get('ecosystem', '')}/{package.get('name', '')}"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _ranges(raw: Any) -> tuple[VersionRange, ...]:
    ranges = []
    for entry in _list(raw):
        if not isinstance(entry, dict) or entry.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not package versions
        events = [
            RangeEvent(kind=kind, version=str(event[kind]))
            for event in _list(entry.get("events"))
            if isinstance(event, dict)
            for kind in _EVENT_KINDS
            if kind in event
        ]
        ranges.append(VersionRange(type=entry["type"], events=tuple(events)))
    return tuple(ranges)


def parse_osv(data: Any, *, source_label: str = SOURCE_LABEL) -> VulnRecord:
    """One OSV document → VulnRecord (withdrawn → no advisories); raises on malformed input.

    Each ``affected`` entry stands alone: one that cannot be matched (no package, an
    ecosystem without version semantics, only GIT ranges, an unparseable version) is
    listed in ``skipped`` and the others are kept."""
    if not isinstance(data, dict):
        raise MalformedRecordError("an OSV record must be a JSON object")
    vuln_id = _str(data, "id")
    modified = _time(_str(data, "modified"))
    if data.get("withdrawn"):
        return VulnRecord(id=vuln_id, modified=modified, withdrawn=True)
    if _NOTICE.match(vuln_id):
        return _notice(vuln_id, modified, data)
    summary = data.get("summary") or (data.get("details") or "").split("\n", 1)[0]
    aliases = {a for a in _list(data.get("aliases")) if isinstance(a, str)}
    if cve := _DISTRO_CVE.match(vuln_id):  # a distro's record of one CVE: UBUNTU-CVE-…
        aliases.add(cve.group(1))
    common: dict[str, Any] = {
        "id": vuln_id,
        "aliases": tuple(sorted(aliases)),
        "source": source_label,
        "summary": summary[:500],
        "published": _time(data.get("published")),
        "modified": modified,
    }
    label = (data.get("database_specific") or {}).get("severity")
    by_package: dict[tuple[str, str], Advisory] = {}
    skipped: list[SkippedEntry] = []
    for affected in _list(data.get("affected")):
        entry = _entry(affected, common, data.get("severity"), label)
        if isinstance(entry, SkippedEntry):
            skipped.append(entry)
            continue
        key = (entry.ecosystem, entry.package)
        previous = by_package.get(key)
        if previous is not None:  # one package in several entries: one advisory
            entry = Advisory(
                **entry.model_dump(exclude={"ranges", "versions"}),
                ranges=previous.ranges + entry.ranges,
                versions=previous.versions + entry.versions,
            )
        by_package[key] = entry
    return VulnRecord(
        id=vuln_id,
        modified=modified,
        advisories=tuple(by_package.values()),
        skipped=tuple(skipped),
    )


def _entry(
    affected: Any, common: dict[str, Any], record_severity: Any, label: Any
) -> Advisory | SkippedEntry:
    """One ``affected`` entry as an advisory, or why it cannot be one."""
    package = affected.get("package") if isinstance(affected, dict) else None
    ecosystem = package.get("ecosystem") if isinstance(package, dict) else None
    name = package.get("name") if isinstance(package, dict) else None
    if not (isinstance(ecosystem, str) and ecosystem and isinstance(name, str) and name):
        return SkippedEntry(package="", reason=SkipReason.NO_PACKAGE)
    named = f"{ecosystem}/{name}"
    if not is_supported(ecosystem):
        return SkippedEntry(package=named, reason=SkipReason.UNSUPPORTED_ECOSYSTEM)
    ecosystem = advisory_ecosystem(ecosystem)
    rating = _severity(affected.get("severity") or record_severity, label)
    priority = _distro_priority(affected, record_severity)
    if priority is not None:
        rating.update(severity=from_label(priority[1]), severity_source=priority[0])
    advisory = Advisory(
        **common,
        ecosystem=ecosystem,
        package=normalize_name(ecosystem, name),
        ranges=_ranges(affected.get("ranges")),
        versions=tuple(str(v) for v in _list(affected.get("versions"))),
        **rating,
    )
    try:
        advisory.validate_versions()
    except UnparseableVersionError as error:
        return SkippedEntry(
            package=named, reason=SkipReason.UNPARSEABLE_VERSION, detail=str(error)[:200]
        )
    if not advisory.ranges and not advisory.listed_versions:
        unparseable = bool(advisory.versions)  # versions listed, none of them readable
        reason = SkipReason.UNPARSEABLE_VERSION if unparseable else SkipReason.NO_VERSION_RANGE
        return SkippedEntry(package=named, reason=reason)
    return advisory
