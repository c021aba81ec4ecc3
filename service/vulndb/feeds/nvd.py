"""NVD's CVE API 2.0 records: its yearly JSON 2.0 feed files (gzip or zip), API
responses, or directories of per-CVE records as public mirrors publish them.

Each CVE becomes NVD's assessment: per CVSS version the Primary (NVD's own) metric, else
the highest Secondary one. Incremental by ``lastModified``. Documents are decoded into
typed structs of only the fields read (msgspec): a yearly feed is hundreds of megabytes
of descriptions, references and CPE configurations Tollgate does not use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
from pydantic import ValidationError

from service.vulndb.cve import NVD, CveFacts, assess
from service.vulndb.feeds.base import CveFeed, DocumentSource
from service.vulndb.feeds.cvss_data import cvss_score, timestamp
from service.vulndb.model import CvssScore
from service.vulndb.records import SkippedRecord

SOURCE = "nvd"
# Records NVD changed in the last eight days; yearly files: nvdcve-2.0-YYYY.json.gz
NVD_MODIFIED_URL = "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-modified.json.gz"


class _CvssData(msgspec.Struct):
    vectorString: Any = None
    baseScore: Any = None


class _Metric(msgspec.Struct):
    type: Any = None
    cvssData: _CvssData | None = None


class _Metrics(msgspec.Struct):
    cvssMetricV2: list[_Metric] = []
    cvssMetricV30: list[_Metric] = []
    cvssMetricV31: list[_Metric] = []
    cvssMetricV40: list[_Metric] = []


class _Cve(msgspec.Struct):
    id: str
    lastModified: str | None = None
    vulnStatus: str | None = None
    metrics: _Metrics = msgspec.field(default_factory=_Metrics)


class _Item(msgspec.Struct):
    cve: _Cve


class _Feed(msgspec.Struct):
    vulnerabilities: list[_Item]


class NVDFeed(CveFeed):
    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        self.source = SOURCE
        self._documents = DocumentSource(location or NVD_MODIFIED_URL, client=client)

    def records(self) -> Iterator[CveFacts | SkippedRecord]:
        for name, raw in self._documents.documents():
            for item in _decode(name, raw):
                if isinstance(item, SkippedRecord):
                    yield item
                    continue
                try:
                    yield _facts(item)
                except (ValueError, ValidationError) as error:
                    reason = f"{type(error).__name__}: {error}"[:300]
                    yield SkippedRecord(ref=f"{name}:{item.id}", reason=reason)


def parse_nvd(data: Any) -> CveFacts:
    """One NVD ``cve`` object (bare or as ``{"cve": …}``) → NVD's facts about the CVE."""
    cve = data.get("cve", data) if isinstance(data, dict) else data
    try:
        return _facts(msgspec.convert(cve, _Cve))
    except msgspec.ValidationError as error:
        raise ValueError(f"not an NVD cve object: {error}") from error


def _decode(name: str, raw: bytes) -> Iterator[_Cve | SkippedRecord]:
    """The records of a document: a feed or API response (``vulnerabilities``), or one
    record; when one record does not fit, the others are still read."""
    try:
        yield from (item.cve for item in msgspec.json.decode(raw, type=_Feed).vulnerabilities)
        return
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as error:
        yield SkippedRecord(ref=name, reason=f"not JSON: {error}"[:300])
        return
    document = msgspec.json.decode(raw)
    items = document.get("vulnerabilities") if isinstance(document, dict) else None
    for number, item in enumerate(items if isinstance(items, list) else [document]):
        cve = item.get("cve", item) if isinstance(item, dict) else item
        try:
            yield msgspec.convert(cve, _Cve)
        except msgspec.ValidationError as error:
            yield SkippedRecord(ref=f"{name}#{number}", reason=f"not an NVD record: {error}")


def _facts(cve: _Cve) -> CveFacts:
    scores: list[CvssScore] = []
    metrics = cve.metrics
    for entries in (
        metrics.cvssMetricV2,
        metrics.cvssMetricV30,
        metrics.cvssMetricV31,
        metrics.cvssMetricV40,
    ):
        primary = [e for e in entries if e.type == "Primary"]
        scores += [
            score
            for e in primary or entries
            if e.cvssData is not None
            if (score := cvss_score(e.cvssData.vectorString, e.cvssData.baseScore))
        ]
    return CveFacts(
        id=cve.id,
        modified=timestamp(cve.lastModified),
        withdrawn=cve.vulnStatus == "Rejected",
        assessments=(assess(NVD, scores),) if scores else (),
    )
