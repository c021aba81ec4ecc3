"""Finding orders (the API's ``/images/{digest}/vulnerabilities?sort=`` and the console's
image page): worst first, known-exploited first, or most likely exploited first; ties by
severity."""

from __future__ import annotations

from datetime import date

from service.vulndb.finding_order import FindingOrder, ordered
from service.vulndb.model import ExploitPrediction, Finding, KnownExploited, PackageRef, Severity

PACKAGE = PackageRef(name="openssl", version="1.0", type="deb")


def _finding(vuln_id: str, severity: Severity, **extra: object) -> Finding:
    return Finding(id=vuln_id, severity=severity, package=PACKAGE, source="test", **extra)


FINDINGS = [
    _finding("CVE-1", Severity.CRITICAL, epss=ExploitPrediction(score=0.01, percentile=0.3)),
    _finding("CVE-2", Severity.LOW, kev=KnownExploited(date_added=date(2022, 1, 1))),
    _finding(
        "CVE-3",
        Severity.MEDIUM,
        kev=KnownExploited(date_added=date(2021, 1, 1), ransomware=True),
        epss=ExploitPrediction(score=0.9, percentile=0.99),
    ),
    _finding("CVE-4", Severity.HIGH, kev=KnownExploited(date_added=date(2023, 1, 1))),
    _finding("CVE-5", Severity.HIGH),
]


def _ids(order: FindingOrder) -> list[str]:
    return [f.id for f in ordered(FINDINGS, order)]


def test_severity_order() -> None:
    assert _ids(FindingOrder.SEVERITY) == ["CVE-1", "CVE-4", "CVE-5", "CVE-3", "CVE-2"]


def test_kev_order_ransomware_then_most_recently_listed() -> None:
    assert _ids(FindingOrder.KEV) == ["CVE-3", "CVE-4", "CVE-2", "CVE-1", "CVE-5"]


def test_epss_order_unscored_last_by_severity() -> None:
    assert _ids(FindingOrder.EPSS) == ["CVE-3", "CVE-1", "CVE-4", "CVE-5", "CVE-2"]
