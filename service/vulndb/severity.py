"""Severity from CVSS vectors (base score via the ``cvss`` library) or a record's own label."""

from __future__ import annotations

import logging

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

from service.vulndb.model import Severity

logger = logging.getLogger(__name__)

_LABELS = {
    "critical": Severity.CRITICAL,
    "high": Severity.HIGH,
    "important": Severity.HIGH,
    "moderate": Severity.MEDIUM,
    "medium": Severity.MEDIUM,
    "low": Severity.LOW,
    "negligible": Severity.NEGLIGIBLE,
    "unimportant": Severity.NEGLIGIBLE,
}


def from_score(score: float) -> Severity:
    """CVSS qualitative rating scale."""
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    if score > 0.0:
        return Severity.LOW
    return Severity.NEGLIGIBLE


def from_v2_score(score: float) -> Severity:
    """CVSS v2's rating scale as NVD applies it (no "critical")."""
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0.0 else Severity.NEGLIGIBLE


def from_label(label: str | None) -> Severity:
    return _LABELS.get((label or "").strip().lower(), Severity.UNKNOWN)


def cvss_version(vector: str) -> str:
    """``3.1``, ``3.0``, ``4.0`` from a vector's prefix; ``2.0`` for an unprefixed one."""
    prefix = vector.split("/", 1)[0]
    return prefix.removeprefix("CVSS:") if prefix.startswith("CVSS:") else "2.0"


def base_score(vector: str) -> float | None:
    """The CVSS v2, v3.x or 4.0 base score of ``vector`` (v2 vectors have no ``CVSS:``
    prefix); None when it is not a valid vector."""
    try:
        if vector.startswith("CVSS:4"):
            return float(CVSS4(vector).base_score)
        if vector.startswith("CVSS:3"):
            return float(CVSS3(vector).scores()[0])
        if vector.startswith("AV:"):
            return float(CVSS2(vector).scores()[0])
    except (CVSSError, ValueError, KeyError) as error:
        logger.debug("ignoring invalid CVSS vector %r: %s", vector, error)
    return None
