"""OSV importer: ``<ECOSYSTEM>/all.zip`` from the OSV bucket, a local .zip or a directory."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from service.vulndb.ecosystems import normalize_name
from service.vulndb.feeds.base import DocumentSource, Feed
from service.vulndb.model import Severity
from service.vulndb.records import Advisory, RangeEvent, SkippedRecord, VersionRange, VulnRecord
from service.vulndb.severity import base_score, from_label, from_score
from service.vulndb.versions import UnparseableVersionError, is_supported

logger = logging.getLogger(__name__)

OSV_BUCKET = "https://osv-vulnerabilities.storage.googleapis.com"
SOURCE_LABEL = "tollgate-osv"
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
        self._documents = DocumentSource(location or bucket_url(ecosystem), client=client)

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


def _severity(entries: Any, label: Any) -> tuple[Severity, float | None, str | None]:
    best: tuple[float, str] | None = None
    for entry in entries if isinstance(entries, list) else []:
        vector = entry.get("score") if isinstance(entry, dict) else None
        score = base_score(vector) if isinstance(vector, str) else None
        if score is not None and isinstance(vector, str) and (best is None or score > best[0]):
            best = (score, vector)
    if best is not None:
        return from_score(best[0]), best[0], best[1]
    return from_label(label if isinstance(label, str) else None), None, None


def _ranges(raw: Any) -> tuple[VersionRange, ...]:
    ranges = []
    for entry in raw if isinstance(raw, list) else []:
        if entry.get("type") not in ("ECOSYSTEM", "SEMVER"):
            continue  # GIT ranges name commits, not package versions
        events = [
            RangeEvent(kind=kind, version=str(event[kind]))
            for event in entry.get("events", [])
            for kind in _EVENT_KINDS
            if kind in event
        ]
        ranges.append(VersionRange(type=entry["type"], events=tuple(events)))
    return tuple(ranges)


def parse_osv(data: Any, *, source_label: str = SOURCE_LABEL) -> VulnRecord:
    """One OSV document → VulnRecord (withdrawn → no advisories); raises on malformed input."""
    if not isinstance(data, dict):
        raise MalformedRecordError("an OSV record must be a JSON object")
    vuln_id = _str(data, "id")
    modified = _time(_str(data, "modified"))
    if data.get("withdrawn"):
        return VulnRecord(id=vuln_id, modified=modified, withdrawn=True)
    aliases = tuple(sorted({a for a in data.get("aliases") or [] if isinstance(a, str)}))
    summary = data.get("summary") or (data.get("details") or "").split("\n", 1)[0]
    label = (data.get("database_specific") or {}).get("severity")
    by_package: dict[tuple[str, str], Advisory] = {}
    for affected in data.get("affected") or []:
        package = affected.get("package") or {}
        ecosystem, name = _str(package, "ecosystem"), _str(package, "name")
        if not is_supported(ecosystem):
            continue
        severity, score, vector = _severity(affected.get("severity") or data.get("severity"), label)
        key = (ecosystem, normalize_name(ecosystem, name))
        previous = by_package.get(key)
        advisory = Advisory(
            id=vuln_id,
            aliases=aliases,
            source=source_label,
            ecosystem=key[0],
            package=key[1],
            ranges=(previous.ranges if previous else ()) + _ranges(affected.get("ranges")),
            versions=(previous.versions if previous else ())
            + tuple(str(v) for v in affected.get("versions") or []),
            severity=severity,
            cvss_score=score,
            cvss_vector=vector,
            summary=summary[:500],
            published=_time(data.get("published")),
            modified=modified,
        )
        advisory.validate_versions()
        by_package[key] = advisory
    return VulnRecord(id=vuln_id, modified=modified, advisories=tuple(by_package.values()))
