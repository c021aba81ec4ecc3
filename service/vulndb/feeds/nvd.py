"""NVD's CVE API 2.0 records: its yearly JSON 2.0 feed files (gzip or zip), API
responses, or directories of per-CVE records as public mirrors publish them.

Each CVE becomes NVD's assessment: per CVSS version the Primary (NVD's own) metric, else
the highest Secondary one. Incremental by ``lastModified``. Documents are decoded into
typed structs of only the fields read (msgspec): a yearly feed is hundreds of megabytes
of descriptions, references and CPE configurations Tollgate does not use."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import msgspec

from service.vulndb.cve import NVD, CveFacts, assess
from service.vulndb.feeds.base import CveFeed, Entry
from service.vulndb.feeds.cvss_data import MalformedCveRecordError, cvss_score, timestamp
from service.vulndb.feeds.documents import Document, DocumentSource
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
    metrics: msgspec.Raw = msgspec.Raw(b"{}")  # decoded only when the record changed


class _Item(msgspec.Struct):
    cve: _Cve


class _Document(msgspec.Struct):
    """A feed file or API response (``vulnerabilities``), one item, or one bare record."""

    vulnerabilities: list[_Item] | None = None
    cve: _Cve | None = None
    id: str | None = None
    lastModified: str | None = None
    vulnStatus: str | None = None
    metrics: msgspec.Raw = msgspec.Raw(b"{}")

    def records(self) -> list[_Cve]:
        if self.vulnerabilities is not None:
            return [item.cve for item in self.vulnerabilities]
        if self.cve is not None:
            return [self.cve]
        if self.id is not None:
            return [_Cve(self.id, self.lastModified, self.vulnStatus, self.metrics)]
        raise msgspec.ValidationError("neither NVD records nor one record")


class _Items(msgspec.Struct):
    vulnerabilities: list[msgspec.Raw]


class NVDFeed(CveFeed):
    format = 1

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        super().__init__(DocumentSource(location or NVD_MODIFIED_URL, client=client))
        self.source = SOURCE

    def entries(self, document: Document) -> Iterator[Entry | SkippedRecord]:
        for item in _decode(document.name, document.content()):
            if isinstance(item, SkippedRecord):
                yield item
            else:
                yield Entry(item.id, item.lastModified, partial(_facts, item))


def parse_nvd(data: Any) -> CveFacts:
    """One NVD ``cve`` object (bare or as ``{"cve": …}``) → NVD's facts about the CVE."""
    cve = data.get("cve", data) if isinstance(data, dict) else data
    try:
        (record,) = msgspec.json.decode(msgspec.json.encode(cve), type=_Document).records()
        return _facts(record)
    except msgspec.ValidationError as error:
        raise ValueError(f"not an NVD cve object: {error}") from error


def _decode(name: str, raw: bytes) -> Iterator[_Cve | SkippedRecord]:
    """The records of a document: a feed or API response (``vulnerabilities``), or one
    record; when one record does not fit, the others are still read."""
    try:
        yield from msgspec.json.decode(raw, type=_Document).records()
        return
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as error:
        yield SkippedRecord(ref=name, reason=f"not JSON: {error}"[:300])
        return
    try:
        items = msgspec.json.decode(raw, type=_Items).vulnerabilities
    except msgspec.ValidationError:
        items = [msgspec.Raw(raw)]
    for number, item in enumerate(items):
        try:
            yield from msgspec.json.decode(item, type=_Document).records()
        except msgspec.ValidationError as error:
            yield SkippedRecord(ref=f"{name}#{number}", reason=f"not an NVD record: {error}")


def _facts(cve: _Cve) -> CveFacts:
    scores: list[CvssScore] = []
    try:
        metrics = msgspec.json.decode(cve.metrics, type=_Metrics)
    except msgspec.ValidationError as error:
        raise MalformedCveRecordError(f"{cve.id}: unusable metrics: {error}") from error
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
