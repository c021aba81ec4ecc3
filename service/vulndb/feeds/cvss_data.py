"""Reading the CVSS objects NVD and CVE JSON 5 records share (``vectorString``,
``baseScore``, ``version``), and the document plumbing of the CVE-keyed feeds."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from service.vulndb.cve import CveFacts
from service.vulndb.model import CvssScore
from service.vulndb.records import SkippedRecord
from service.vulndb.severity import cvss_version

logger = logging.getLogger(__name__)

_VERSIONS = frozenset({"2.0", "3.0", "3.1", "4.0"})


class MalformedCveRecordError(ValueError):
    """The document is not a usable NVD, CVE, KEV or EPSS record."""


def cvss_score(data: Any) -> CvssScore | None:
    """A CVSS object's vector and base score; None when it holds no usable one."""
    if not isinstance(data, dict):
        return None
    vector, score = data.get("vectorString"), data.get("baseScore")
    if not isinstance(vector, str) or isinstance(score, bool):
        return None
    if not isinstance(score, int | float) or not 0.0 <= score <= 10.0:
        return None
    version = cvss_version(vector)
    if version not in _VERSIONS:
        return None
    return CvssScore(version=version, vector=vector, score=float(score))


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 time as NVD and the CVE project write them (UTC when no offset)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def records_of(
    documents: Iterable[tuple[str, bytes]], parse: Callable[[Any], CveFacts]
) -> Iterator[CveFacts | SkippedRecord]:
    """``parse`` applied to each record of each JSON document (one record, or an NVD
    API response or yearly feed of them); an unreadable document or record is a
    SkippedRecord."""
    for name, raw in documents:
        try:
            document = json.loads(raw)
        except ValueError as error:
            yield SkippedRecord(ref=name, reason=f"not JSON: {error}"[:300])
            continue
        items = document.get("vulnerabilities") if isinstance(document, dict) else None
        for item in items if isinstance(items, list) else [document]:
            try:
                yield parse(item)
            except (ValueError, ValidationError) as error:
                yield SkippedRecord(ref=name, reason=f"{type(error).__name__}: {error}"[:300])
