"""CVE JSON 5 records as the CVE project publishes them (a directory or zip of
``CVE-*.json``): the CNA's CVSS metrics, then the ADPs' (CISA's Vulnrichment first).
Incremental by ``cveMetadata.dateUpdated``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import PurePath
from typing import Any

import httpx
from pydantic import ValidationError

from service.vulndb.cve import CVE_ADP, CVE_CNA, Assessment, CveFacts, assess
from service.vulndb.feeds.base import CveFeed, Entry
from service.vulndb.feeds.cvss_data import (
    MalformedCveRecordError,
    cvss_score,
    timestamp,
)
from service.vulndb.feeds.documents import Document, DocumentSource
from service.vulndb.records import SkippedRecord

SOURCE = "cve"
CVELIST_URL = "https://github.com/CVEProject/cvelistV5/archive/refs/heads/main.zip"
_METRIC_KEYS = ("cvssV2_0", "cvssV3_0", "cvssV3_1", "cvssV4_0")
CISA_ADP = "CISA-ADP"


class CveRecordsFeed(CveFeed):
    """One record per document: a document that changed is parsed whole (its digest is
    the record's stamp)."""

    format = 1

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        super().__init__(DocumentSource(location or CVELIST_URL, client=client))
        self.source = SOURCE

    def entries(self, document: Document) -> Iterator[Entry | SkippedRecord]:
        if not PurePath(document.name).name.startswith("CVE-"):
            return  # the repository's delta logs
        try:
            facts = parse_cve_record(json.loads(document.content()))
        except (ValueError, ValidationError) as error:
            reason = f"{type(error).__name__}: {error}"[:300]
            yield SkippedRecord(ref=document.name, reason=reason)
            return
        yield Entry(facts.id, None, lambda: facts)


def parse_cve_record(data: Any) -> CveFacts:
    """One CVE JSON 5 record → what its CNA and ADP containers rate."""
    metadata = data.get("cveMetadata") if isinstance(data, dict) else None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("cveId"), str):
        raise MalformedCveRecordError("a CVE JSON 5 record needs cveMetadata.cveId")
    containers = data.get("containers")
    containers = containers if isinstance(containers, dict) else {}
    adps = [a for a in containers.get("adp") or () if isinstance(a, dict)]
    adps.sort(key=lambda a: _short_name(a) != CISA_ADP)
    rated = [_assessment(CVE_CNA, containers.get("cna"))]
    rated += [_assessment(CVE_ADP, adp) for adp in adps]
    return CveFacts(
        id=metadata["cveId"],
        modified=timestamp(metadata.get("dateUpdated")),
        withdrawn=metadata.get("state") == "REJECTED",
        assessments=tuple(a for a in rated if a.best is not None),
    )


def _assessment(source: str, container: Any) -> Assessment:
    metrics = container.get("metrics") if isinstance(container, dict) else None
    return assess(
        source,
        (
            score
            for metric in (metrics if isinstance(metrics, list) else ())
            if isinstance(metric, dict)
            for key in _METRIC_KEYS
            if isinstance(data := metric.get(key), dict)
            if (score := cvss_score(data.get("vectorString"), data.get("baseScore")))
        ),
    )


def _short_name(adp: dict[str, Any]) -> str:
    provider = adp.get("providerMetadata")
    return str(provider.get("shortName", "")) if isinstance(provider, dict) else ""
