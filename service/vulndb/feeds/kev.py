"""CISA's Known Exploited Vulnerabilities catalog (its JSON feed): one whole catalog per
import, so a CVE it no longer lists loses its entry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from functools import partial
from typing import Any

import httpx

from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import CveFeed, Entry
from service.vulndb.feeds.cvss_data import MalformedCveRecordError
from service.vulndb.feeds.documents import Document, DocumentSource
from service.vulndb.model import KnownExploited
from service.vulndb.records import SkippedRecord

SOURCE = "kev"
KEV_URL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"


class KEVFeed(CveFeed):
    complete = True
    format = 1
    signals_only = True

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        super().__init__(DocumentSource(location or KEV_URL, client=client))
        self.source = SOURCE

    def entries(self, document: Document) -> Iterator[Entry | SkippedRecord]:
        try:
            entries = json.loads(document.content()).get("vulnerabilities")
        except (ValueError, AttributeError) as error:
            yield SkippedRecord(ref=document.name, reason=f"not a KEV catalog: {error}"[:300])
            return
        for number, entry in enumerate(entries if isinstance(entries, list) else []):
            cve = entry.get("cveID") if isinstance(entry, dict) else None
            if not isinstance(cve, str):
                yield SkippedRecord(ref=f"{document.name}#{number}", reason="no cveID")
            else:
                yield Entry(cve, None, partial(parse_kev_entry, entry))


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
