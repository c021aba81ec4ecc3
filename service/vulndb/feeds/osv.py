"""OSV importer: ``<ECOSYSTEM>/all.zip`` from the OSV bucket, a local .zip or a directory."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from service.vulndb.cve import assess
from service.vulndb.ecosystems import normalize_name
from service.vulndb.feeds.base import DocumentSource, Feed
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
        for name, raw in self._documents.documents():
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
    summary = data.get("summary") or (data.get("details") or "").split("\n", 1)[0]
    common: dict[str, Any] = {
        "id": vuln_id,
        "aliases": tuple(sorted({a for a in _list(data.get("aliases")) if isinstance(a, str)})),
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
    advisory = Advisory(
        **common,
        ecosystem=ecosystem,
        package=normalize_name(ecosystem, name),
        ranges=_ranges(affected.get("ranges")),
        versions=tuple(str(v) for v in _list(affected.get("versions"))),
        **_severity(affected.get("severity") or record_severity, label),
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
