"""Debian's own rating: the security tracker's urgency, which osv.dev's ``DEBIAN-CVE``
records carry per release as ``ecosystem_specific.urgency`` (next to NVD's CVSS), rates
the finding before the record's CVSS. The record is built as osv.dev's Debian converter
writes one, from the real NVD record of CVE-2022-22817 (Pillow, CVSS 3.1 critical)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.vulndb.feeds.osv import parse_osv
from service.vulndb.model import Severity
from service.vulndb.severity import base_score, from_score
from tests.unit.vulndb.realdata import VULNDATA

NVD = json.loads((VULNDATA / "nvd" / "CVE-2022-22817.json").read_text())
VECTOR = NVD["metrics"]["cvssMetricV31"][0]["cvssData"]["vectorString"]


def _record(urgencies: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "DEBIAN-CVE-2022-22817",
        "upstream": ["CVE-2022-22817"],
        "modified": NVD["lastModified"] + "Z",
        "published": NVD["published"] + "Z",
        "severity": [{"type": "CVSS_V3", "score": VECTOR}],
        "affected": [
            {
                "package": {"ecosystem": f"Debian:{release}", "name": "pillow"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                "ecosystem_specific": {"urgency": urgency},
            }
            for release, urgency in urgencies.items()
        ],
    }


@pytest.mark.parametrize(
    ("urgency", "severity"),
    [
        ("unimportant", Severity.NEGLIGIBLE),
        ("low", Severity.LOW),
        ("medium**", Severity.MEDIUM),  # the tracker marks urgencies it took from NVD
        ("high", Severity.HIGH),
    ],
)
def test_the_urgency_rates_the_package(urgency: str, severity: Severity) -> None:
    (advisory,) = parse_osv(_record({"12": urgency})).advisories
    assert (advisory.severity, advisory.severity_source) == (severity, "debian")
    assert advisory.cvss_v3_vector == VECTOR  # the CVSS is kept beside it


def test_without_an_urgency_the_record_cvss_rates_it() -> None:
    score = base_score(VECTOR)
    assert score is not None
    unrated, rated = parse_osv(_record({"11": "not yet assigned", "12": "low"})).advisories
    assert (unrated.severity, unrated.severity_source) == (from_score(score), "osv")
    assert rated.severity_source == "debian"


def test_urgency_is_read_only_for_debian_packages() -> None:
    record = _record({"12": "low"})
    record["affected"][0]["package"] = {"ecosystem": "PyPI", "name": "pillow"}
    (advisory,) = parse_osv(record).advisories
    assert advisory.severity_source == "osv"
