"""CISA's Known Exploited Vulnerabilities catalog (its JSON feed): one whole catalog per
import, so a CVE it no longer lists loses its entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
from pydantic import ValidationError

from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import CveFeed, DocumentSource
from service.vulndb.feeds.cvss_data import MalformedCveRecordError
from service.vulndb.model import KnownExploited
from service.vulndb.records import SkippedRecord

SOURCE = "kev"
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"


class KEVFeed(CveFeed):
    complete = True

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        self.source = SOURCE
        self._documents = DocumentSource(location or KEV_URL, client=client)

    def records(self) -> Iterator[CveFacts | SkippedRecord]:
        for name, raw in self._documents.documents():
            try:
                entries = json.loads(raw).get("vulnerabilities")
            except (ValueError, AttributeError) as error:
                yield SkippedRecord(ref=name, reason=f"not a KEV catalog: {error}"[:300])
                continue
            for number, entry in enumerate(entries if isinstance(entries, list) else []):
                try:
                    yield parse_kev_entry(entry)
                except (ValueError, ValidationError) as error:
                    reason = f"{type(error).__name__}: {error}"[:300]
                    yield SkippedRecord(ref=f"{name}#{number}", reason=reason)


def parse_kev_entry(entry: Any) -> CveFacts:
    if not isinstance(entry, dict) or not isinstance(entry.get("cveID"), str):
        raise MalformedCveRecordError("a KEV entry needs a cveID")
    added = date.fromisoformat(str(entry.get("dateAdded")))
    due = entry.get("dueDate")
    return CveFacts(
        id=entry["cveID"],
        kev=KnownExploited(
            date_added=added,
            due_date=date.fromisoformat(due) if isinstance(due, str) and due else None,
            ransomware=entry.get("knownRansomwareCampaignUse") == "Known",
        ),
    )
