"""Severity everywhere, with its source: the PyPI OSV records of ../shared/vulndata with
the NVD and CVE JSON 5 records for their CVEs. Expectations are computed from the records
themselves (which CVEs carry a CVSS score where)."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from policies.decision import Outcome
from policies.engine import evaluate_bundle
from policies.loader import load_bundle
from service.catalog.model import PackageType
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.cve import CVE_ADP, CVE_CNA, NVD
from service.vulndb.feeds.catalog import feed_for
from service.vulndb.feeds.cve_records import CveRecordsFeed, parse_cve_record
from service.vulndb.feeds.nvd import NVDFeed, parse_nvd
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import Matcher
from service.vulndb.model import Finding, Severity
from tests.unit.policies.policy_helpers import subject
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

NVD_DIR = VULNDATA / "nvd"
CVE5_DIR = VULNDATA / "cve5"
DEFAULT_BUNDLE = Path(__file__).parents[3] / "policies" / "bundles" / "default.yaml"
IMAGE = [("django", "3.2.0"), ("pillow", "6.2.0")]
# 2024 django CVEs are rated only by CISA's ADP, 2023 aiohttp/werkzeug ones only by their CNA
WIDER = [("django", "4.2.0"), ("aiohttp", "3.8.0"), ("werkzeug", "2.0.0"), ("pillow", "6.2.0")]


def _json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _nvd_scored(record: dict[str, Any]) -> bool:
    return any(m.get("cvssData") for entries in record["metrics"].values() for m in entries)


def _cve5_scored(record: dict[str, Any]) -> dict[str, bool]:
    containers = record["containers"]

    def scored(container: dict[str, Any]) -> bool:
        return any(k.startswith("cvssV") for m in container.get("metrics", []) for k in m)

    return {
        CVE_CNA: scored(containers["cna"]),
        CVE_ADP: any(scored(a) for a in containers.get("adp", [])),
    }


def _scored_cves() -> set[str]:
    """CVEs with a CVSS score in the NVD or the CVE record, read from the files."""
    nvd = {p.stem for p in NVD_DIR.glob("CVE-*.json") if _nvd_scored(_json(p))}
    cve = {p.stem for p in CVE5_DIR.glob("CVE-*.json") if any(_cve5_scored(_json(p)).values())}
    return nvd | cve


@pytest.fixture(scope="module")
def enriched(tmp_path_factory: pytest.TempPathFactory) -> VulnStore:
    store = VulnStore(make_engine(f"sqlite:///{tmp_path_factory.mktemp('cve') / 'v.db'}"))
    store.import_feed(OSVFeed("PyPI", str(VULNDATA / "osv" / "PyPI")))
    store.import_feed(feed_for(f"nvd={NVD_DIR}"))
    store.import_feed(feed_for(f"cve={CVE5_DIR}"))
    return store


def _scan(store: VulnStore, image: list[tuple[str, str]] = IMAGE) -> list[Finding]:
    catalog = make_catalog([pkg(n, v, PackageType.PYTHON) for n, v in image])
    return Matcher(store).match(catalog)


def _cves(finding: Finding) -> set[str]:
    return {i for i in (finding.id, *finding.aliases) if i.startswith("CVE-")}


def test_every_finding_with_a_scored_cve_has_a_severity_and_its_source(
    enriched: VulnStore,
) -> None:
    scored = _scored_cves()
    findings = _scan(enriched)
    rated = [f for f in findings if _cves(f) & scored]
    assert len(rated) >= 40  # django 3.2.0 and pillow 6.2.0 have many advisories
    unrated = [f.id for f in rated if f.severity is Severity.UNKNOWN]
    assert unrated == []
    assert all(f.severity_source for f in rated)


def test_the_default_bundle_blocks_the_image(enriched: VulnStore) -> None:
    findings = tuple(_scan(enriched))
    decision = evaluate_bundle(
        load_bundle(DEFAULT_BUNDLE), subject(findings=findings), now=datetime.now(UTC)
    )
    assert decision.outcome is Outcome.BLOCK
    fired = {r.rule_id for r in decision.rule_results if r.fired}
    assert "critical-fixable" in fired


def test_without_cve_feeds_most_findings_are_unrated(tmp_path: Path) -> None:
    """What the enrichment fixes: the PYSEC records alone rarely carry a score."""
    store = VulnStore(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))
    store.import_feed(OSVFeed("PyPI", str(VULNDATA / "osv" / "PyPI")))
    findings = _scan(store)
    unknown = [f for f in findings if f.severity is Severity.UNKNOWN]
    assert len(unknown) > len(findings) / 2


def test_precedence_nvd_before_the_cve_record_cna_before_adp(enriched: VulnStore) -> None:
    findings = _scan(enriched, WIDER)
    assert {f.severity_source for f in findings} >= {NVD, CVE_CNA, CVE_ADP}
    by_cve = {cve: f for f in findings for cve in _cves(f)}
    for cve, finding in sorted(by_cve.items()):
        if finding.source != "tollgate-osv" or finding.severity_source == "osv":
            continue  # the advisory rated it itself
        nvd_path, cve_path = NVD_DIR / f"{cve}.json", CVE5_DIR / f"{cve}.json"
        at_nvd = nvd_path.exists() and _nvd_scored(_json(nvd_path))
        record = _cve5_scored(_json(cve_path)) if cve_path.exists() else {}
        expected = (
            NVD
            if at_nvd
            else CVE_CNA
            if record.get(CVE_CNA)
            else CVE_ADP
            if record.get(CVE_ADP)
            else None
        )
        if len(_cves(finding)) == 1:
            assert finding.severity_source == expected, cve


def test_v3_fields_hold_only_v3_and_v2_is_kept_apart(enriched: VulnStore) -> None:
    findings = _scan(enriched)
    assert any(f.cvss_v2_vector for f in findings)
    for finding in findings:
        assert finding.cvss_v3_vector is None or finding.cvss_v3_vector.startswith("CVSS:3.")
        assert finding.cvss_v4_vector is None or finding.cvss_v4_vector.startswith("CVSS:4.0/")
        assert finding.cvss_v2_vector is None or finding.cvss_v2_vector.startswith("AV:")


def test_nvd_prefers_its_own_primary_metric() -> None:
    record = _json(NVD_DIR / "CVE-2022-22817.json")
    primary = next(m for m in record["metrics"]["cvssMetricV31"] if m["type"] == "Primary")
    (assessment,) = parse_nvd(record).assessments
    assert assessment.source == NVD
    assert assessment.v3 is not None
    assert assessment.v3.vector == primary["cvssData"]["vectorString"]
    assert assessment.severity is Severity.CRITICAL
    assert assessment.v2 is not None and assessment.v2.version == "2.0"


def test_a_record_without_metrics_rates_nothing() -> None:
    assert parse_nvd(_json(NVD_DIR / "CVE-2018-25091.json")).assessments == ()


def test_cve_record_cna_then_cisa_adp() -> None:
    facts = parse_cve_record(_json(CVE5_DIR / "CVE-2022-22817.json"))
    assert [a.source for a in facts.assessments] == [CVE_ADP]
    assert facts.modified is not None
    cna = parse_cve_record(_json(CVE5_DIR / "CVE-2023-32681.json"))
    assert cna.assessments[0].source == CVE_CNA


def test_yearly_gzip_feed_and_zip_give_the_same_records(tmp_path: Path) -> None:
    records = [_json(p) for p in sorted(NVD_DIR.glob("CVE-*.json"))]
    yearly = tmp_path / "nvdcve-2.0-all.json.gz"
    document = {"format": "NVD_CVE", "vulnerabilities": [{"cve": r} for r in records]}
    yearly.write_bytes(gzip.compress(json.dumps(document).encode()))
    from_dir = list(NVDFeed(str(NVD_DIR)).records())
    assert list(NVDFeed(str(yearly)).records()) == from_dir
    assert len(from_dir) == len(records)

    archive = tmp_path / "cvelistV5-main.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(CVE5_DIR.glob("CVE-*.json")):
            zipped.write(path, f"cvelistV5-main/cves/{path.stem[4:8]}/{path.name}")
        zipped.writestr("cvelistV5-main/cves/delta.json", "{}")  # not a record: left alone
    from_zip = list(CveRecordsFeed(str(archive)).records())
    assert from_zip == list(CveRecordsFeed(str(CVE5_DIR)).records())
    assert len(from_zip) == len(list(CVE5_DIR.glob("CVE-*.json")))


def test_incremental_by_last_modified(tmp_path: Path) -> None:
    store = VulnStore(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))
    store.import_feed(OSVFeed("PyPI", str(VULNDATA / "osv" / "PyPI")))
    first = store.import_feed(NVDFeed(str(NVD_DIR)))
    assert first.added == len(list(NVD_DIR.glob("CVE-*.json"))) and first.changed
    before = store.revision()
    again = store.import_feed(NVDFeed(str(NVD_DIR)))
    assert not again.changed and again.unchanged == first.added
    assert store.changed_packages(before) == set()

    folder = tmp_path / "nvd"
    shutil.copytree(NVD_DIR, folder)
    record = _json(folder / "CVE-2022-22817.json")
    record["metrics"].pop("cvssMetricV31")
    record["lastModified"] = "2000-01-01T00:00:00.000"
    (folder / "CVE-2022-22817.json").write_text(json.dumps(record))
    older = store.import_feed(NVDFeed(str(folder)))
    assert not older.changed  # modified before the stored record: kept as is
    record["lastModified"] = "2099-01-01T00:00:00.000"
    (folder / "CVE-2022-22817.json").write_text(json.dumps(record))
    before = store.revision()
    newer = store.import_feed(NVDFeed(str(folder)))
    assert (newer.updated, newer.unchanged) == (1, first.added - 1)
    assert store.changed_packages(before) == {("PyPI", "pillow")}
    (finding,) = [f for f in _scan(store) if f.id == "CVE-2022-22817"]
    assert finding.cvss_v3_vector is None and finding.severity is Severity.HIGH  # v2 7.5


def test_one_malformed_record_of_a_yearly_feed_leaves_the_others(tmp_path: Path) -> None:
    records: list[Any] = [_json(p) for p in sorted(NVD_DIR.glob("CVE-*.json"))[:3]]
    records.insert(1, {"id": 42, "metrics": "none"})
    document = {"vulnerabilities": [{"cve": r} for r in records]}
    (tmp_path / "nvdcve-2.0-2022.json").write_text(json.dumps(document))
    read = list(NVDFeed(str(tmp_path)).records())
    assert [getattr(r, "id", None) for r in read] == [
        records[0]["id"],
        None,
        records[2]["id"],
        records[3]["id"],
    ]
    (tmp_path / "nvdcve-2.0-2022.json").write_text("{not json")
    (skipped,) = NVDFeed(str(tmp_path)).records()
    assert "not JSON" in getattr(skipped, "reason", "")
