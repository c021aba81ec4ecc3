"""Feed parsing: OSV edge cases and malformed input, taken from real records."""

from __future__ import annotations

import copy

from service.vulndb.feeds.osv import parse_osv
from service.vulndb.model import Severity
from service.vulndb.severity import base_score, from_score
from tests.unit.vulndb.realdata import osv_records


def test_withdrawn_records_carry_no_advisories() -> None:
    withdrawn = [r for r in osv_records("Go") if r.get("withdrawn")]
    assert withdrawn
    assert all(parse_osv(r).advisories == () for r in withdrawn)


def test_git_ranges_are_dropped() -> None:
    record = next(
        r
        for r in osv_records("Go")
        if any(g["type"] == "SEMVER" for a in r["affected"] for g in a.get("ranges", []))
    )
    with_git = copy.deepcopy(record)
    with_git["affected"][0]["ranges"].append(
        {"type": "GIT", "repo": "https://example.test/r", "events": [{"introduced": "abc"}]}
    )
    assert parse_osv(with_git) == parse_osv(record)


def test_severity_is_the_cvss_base_score() -> None:
    record = next(r for r in osv_records("npm") if r.get("severity"))
    vector = record["severity"][0]["score"]
    advisory = parse_osv(record).advisories[0]
    assert advisory.cvss_vector == vector
    assert advisory.cvss_score == base_score(vector)
    assert advisory.severity is from_score(base_score(vector) or 0.0)


def test_record_severity_label_when_no_vector() -> None:
    record = next(r for r in osv_records("npm") if r.get("severity"))
    record = {
        **record,
        "severity": [],
        "database_specific": {**record.get("database_specific", {}), "severity": "MODERATE"},
    }
    assert parse_osv(record).advisories[0].severity is Severity.MEDIUM


def test_pypi_names_are_pep503_normalised() -> None:
    record = next(
        r for r in osv_records("PyPI") if r["affected"][0]["package"]["name"] == "jw.util"
    )
    assert parse_osv(record).advisories[0].package == "jw-util"
