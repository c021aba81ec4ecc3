"""FIRST's EPSS scores: the daily CSV (``cve,epss,percentile`` after a ``#model_version``
comment line), gzip or plain. One whole set per import."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
from pydantic import ValidationError

from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import CveFeed, DocumentSource
from service.vulndb.model import ExploitPrediction
from service.vulndb.records import SkippedRecord

SOURCE = "epss"
EPSS_URL = "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz"


class EPSSFeed(CveFeed):
    complete = True

    def __init__(self, location: str | None = None, *, client: httpx.Client | None = None):
        self.source = SOURCE
        self._documents = DocumentSource(location or EPSS_URL, suffix=".csv", client=client)

    def records(self) -> Iterator[CveFacts | SkippedRecord]:
        for name, raw in self._documents.documents():
            lines = io.StringIO(raw.decode("utf-8", errors="replace"))
            rows = csv.DictReader(line for line in lines if not line.startswith("#"))
            if not {"cve", "epss", "percentile"} <= set(rows.fieldnames or ()):
                yield SkippedRecord(ref=name, reason="no cve,epss,percentile header")
                continue
            for row in rows:
                try:
                    yield CveFacts(
                        id=row["cve"],
                        epss=ExploitPrediction(
                            score=float(row["epss"]), percentile=float(row["percentile"])
                        ),
                    )
                except (ValueError, TypeError, ValidationError) as error:
                    ref = f"{name}:{rows.line_num}"
                    yield SkippedRecord(ref=ref, reason=f"{type(error).__name__}: {error}"[:300])
