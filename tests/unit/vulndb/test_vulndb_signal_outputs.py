"""The outputs show who rated each finding and its exploitation signals: the scan table
(``RATED BY``, ``KEV``, ``EPSS``), the JSON report and Harbor's report items
(``vendor_attributes``, v2 and v3 ``preferred_cvss``). Real GHSA, NVD and KEV records;
an EPSS CSV in FIRST's layout written here."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policies.engine import evaluate_bundle
from policies.loader import load_bundle
from service.api.harbor import _vulnerability
from service.catalog.model import PackageType
from service.report import ScanReport, report_json, report_table
from service.signing.model import SignatureStatus
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.epss import EPSSFeed
from service.vulndb.feeds.kev import KEVFeed
from service.vulndb.feeds.nvd import NVDFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import Matcher
from service.vulndb.model import Finding
from tests.unit.policies.policy_helpers import subject
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

KEV = VULNDATA / "kev" / "known_exploited_vulnerabilities.json"
DEFAULT_BUNDLE = Path(__file__).parents[3] / "policies" / "bundles" / "default.yaml"
PACKAGES = [
    ("org.apache.logging.log4j:log4j-core", "2.14.1", PackageType.JAVA),
    ("org.springframework:spring-beans", "5.3.17", PackageType.JAVA),
    ("pillow", "6.2.0", PackageType.PYTHON),
]
EPSS = {"CVE-2021-44228": (0.94358, 0.99961)}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> list[Finding]:
    folder = tmp_path_factory.mktemp("signals")
    store = VulnStore(make_engine(f"sqlite:///{folder / 'v.db'}"))
    for ecosystem in ("Maven", "PyPI"):
        store.import_feed(OSVFeed(ecosystem, str(VULNDATA / "osv" / ecosystem)))
    store.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    store.import_feed(KEVFeed(str(KEV)))
    rows = "".join(f"{cve},{score},{pct}\n" for cve, (score, pct) in EPSS.items())
    (folder / "epss.csv").write_text(f"#model_version:v2025.03.14\ncve,epss,percentile\n{rows}")
    store.import_feed(EPSSFeed(str(folder / "epss.csv")))
    catalog = make_catalog([pkg(name, version, kind) for name, version, kind in PACKAGES])
    return Matcher(store).match(catalog)


def _report(findings: list[Finding]) -> ScanReport:
    decision = evaluate_bundle(
        load_bundle(DEFAULT_BUNDLE),
        subject(findings=tuple(findings)),
        now=datetime.now(UTC),
    )
    return ScanReport(
        image=make_catalog([]).image,
        engine="test",
        engine_version="0",
        packages=[],
        vulnerabilities=findings,
        not_evaluated=[],
        signatures=SignatureStatus(),
        decision=decision,
    )


def _row(table: str, finding: Finding) -> list[str]:
    """The table row of ``finding``, split on the column gaps."""
    header, *rows = table[table.index("SEVERITY") :].split("\n\n")[0].splitlines()
    starts = [header.index(name) for name in header.split("  ") if name]
    line = next(r for r in rows if f"  {finding.id}  " in r and finding.package.name in r)
    ends = [*starts[1:], len(line) + 1]
    return [line[start:end].strip() for start, end in zip(starts, ends, strict=True)]


def test_the_table_shows_who_rated_each_finding_and_its_signals(
    findings: list[Finding],
) -> None:
    table = report_table(_report(findings))
    assert "RATED BY" in table and "KEV" in table and "EPSS" in table
    for finding in findings:
        row = _row(table, finding)
        assert row[0] == finding.severity.value
        assert row[1] == (finding.severity_source or "-")
        kev, epss = row[-2], row[-1]
        if finding.kev is None:
            assert kev == "-"
        else:
            assert kev.startswith(str(finding.kev.date_added))
            assert ("ransomware" in kev) is finding.kev.ransomware
        assert (epss == "-") is (finding.epss is None)
    log4j = next(f for f in findings if f.id == "CVE-2021-44228")
    assert _row(table, log4j)[-1] == "0.944 (99.96%)"
    assert {f.severity_source for f in findings} >= {"osv", "nvd"}


def test_without_signals_the_table_has_no_signal_columns(findings: list[Finding]) -> None:
    plain = [f.model_copy(update={"kev": None, "epss": None}) for f in findings]
    header = next(line for line in report_table(_report(plain)).splitlines() if "SEVERITY" in line)
    assert header.split() == ["SEVERITY", "RATED", "BY", "ID", "PACKAGE", "VERSION", "FIXED", "IN"]


def test_the_json_report_carries_the_signals(findings: list[Finding]) -> None:
    reported = json.loads(report_json(_report(findings)))["vulnerabilities"]
    by_key = {(v["id"], v["package"]["name"]): v for v in reported}
    for finding in findings:
        item = by_key[(finding.id, finding.package.name)]
        assert item["severity_source"] == finding.severity_source
        assert item["kev"] == (finding.kev.model_dump(mode="json") if finding.kev else None)
        assert item["epss"] == (finding.epss.model_dump(mode="json") if finding.epss else None)


def test_harbor_items_carry_the_signals_as_vendor_attributes(findings: list[Finding]) -> None:
    for finding in findings:
        item = _vulnerability(finding)
        attributes = item["vendor_attributes"]
        assert attributes.get("severity_source") == finding.severity_source
        assert attributes.get("kev") == (
            finding.kev.model_dump(mode="json") if finding.kev else None
        )
        assert attributes.get("epss") == (
            finding.epss.model_dump(mode="json") if finding.epss else None
        )
        preferred = item.get("preferred_cvss", {})
        assert preferred.get("score_v2") == finding.cvss_v2_score
        assert preferred.get("vector_v2") == finding.cvss_v2_vector
        assert not str(preferred.get("vector_v3", "CVSS:3.")).startswith(("CVSS:4", "AV:"))
    assert any("kev" in _vulnerability(f)["vendor_attributes"] for f in findings)
    assert any("score_v2" in _vulnerability(f).get("preferred_cvss", {}) for f in findings)
