"""FIRST's EPSS scores: the daily CSV (``cve,epss,percentile`` after a ``#model_version``
comment line), gzip or plain. One whole set per import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from functools import partial

import httpx

from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import CveFeed, Entry
from service.vulndb.feeds.cvss_data import MalformedCveRecordError
from service.vulndb.feeds.documents import Document, DocumentSource
from service.vulndb.model import ExploitPrediction
from service.vulndb.records import SkippedRecord

SOURCE = "epss"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


class EPSSFeed(CveFeed):
    complete = True
    format = 1
    signals_only = True

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        super().__init__(DocumentSource(location or EPSS_URL, suffix=".csv", client=client))
        self.source = SOURCE

    def entries(self, document: Document) -> Iterator[Entry | SkippedRecord]:
        lines = io.StringIO(document.content().decode("utf-8", errors="replace"))
        rows = csv.DictReader(line for line in lines if not line.startswith("#"))
        if not {"cve", "epss", "percentile"} <= set(rows.fieldnames or ()):
            yield SkippedRecord(ref=document.name, reason="no cve,epss,percentile header")
            return
        for row in rows:
            if not row["cve"]:
                yield SkippedRecord(ref=f"{document.name}:{rows.line_num}", reason="no cve")
            else:
                yield Entry(row["cve"], None, partial(_prediction, row))


def _prediction(row: dict[str, str | None]) -> CveFacts:
    score, percentile = row["epss"], row["percentile"]
    if score is None or percentile is None:
        raise MalformedCveRecordError("a row without its epss or percentile")
    return CveFacts(
        id=str(row["cve"]),
        epss=ExploitPrediction(score=float(score), percentile=float(percentile)),
    )
