"""NVD's CVE API 2.0 records: its yearly JSON 2.0 feed files (gzip or zip), API
responses, or directories of per-CVE records as public mirrors publish them.

Each CVE becomes NVD's assessment: per CVSS version the Primary (NVD's own) metric, else
the highest Secondary one. Incremental by ``lastModified``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from service.vulndb.cve import NVD, CveFacts, assess
from service.vulndb.feeds.base import CveFeed, DocumentSource
from service.vulndb.feeds.cvss_data import (
    MalformedCveRecordError,
    cvss_score,
    records_of,
    timestamp,
)
from service.vulndb.model import CvssScore
from service.vulndb.records import SkippedRecord

SOURCE = "nvd"
# Records NVD changed in the last eight days; yearly files: nvdcve-2.0-YYYY.json.gz
NVD_MODIFIED_URL = "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-modified.json.gz"
_METRIC_KEYS = ("cvssMetricV2", "cvssMetricV30", "cvssMetricV31", "cvssMetricV40")


class NVDFeed(CveFeed):
    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        self.source = SOURCE
        self._documents = DocumentSource(location or NVD_MODIFIED_URL, client=client)

    def records(self) -> Iterator[CveFacts | SkippedRecord]:
        return records_of(self._documents.documents(), parse_nvd)


def parse_nvd(data: Any) -> CveFacts:
    """One NVD ``cve`` object (bare or as ``{"cve": …}``) → NVD's facts about the CVE."""
    cve = data.get("cve", data) if isinstance(data, dict) else None
    if not isinstance(cve, dict) or not isinstance(cve.get("id"), str):
        raise MalformedCveRecordError("an NVD record needs a `cve` object with an `id`")
    metrics = cve.get("metrics")
    metrics = metrics if isinstance(metrics, dict) else {}
    scores: list[CvssScore] = []
    for key in _METRIC_KEYS:
        entries = [e for e in metrics.get(key) or () if isinstance(e, dict)]
        primary = [e for e in entries if e.get("type") == "Primary"]
        scores += [score for e in primary or entries if (score := cvss_score(e.get("cvssData")))]
    return CveFacts(
        id=cve["id"],
        modified=timestamp(cve.get("lastModified")),
        withdrawn=cve.get("vulnStatus") == "Rejected",
        assessments=(assess(NVD, scores),) if scores else (),
    )
