"""What NVD and CVE JSON 5 records share: CVSS objects (``vectorString``, ``baseScore``)
and ISO 8601 times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from service.vulndb.model import CvssScore
from service.vulndb.severity import cvss_version

_VERSIONS = frozenset({"2.0", "3.0", "3.1", "4.0"})


class MalformedCveRecordError(ValueError):
    """The document is not a usable NVD, CVE, KEV or EPSS record."""


def cvss_score(vector: Any, score: Any) -> CvssScore | None:
    """A CVSS object's ``vectorString`` and ``baseScore``; None when they are no usable
    score."""
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
