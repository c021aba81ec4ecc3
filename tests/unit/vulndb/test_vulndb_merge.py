"""Merging Trivy's findings (real Trivy reports) with the matcher's findings on the same packages.

The jQuery advisory on our side is the real Node.js security WG advisory 496
(``npm-extra/nodejs-security-wg/496.json``) written as the OSV record it describes,
imported through the OSV feed and matched like any other record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.catalog.model import ImageSubject, PackageType
from service.catalog.trivy_report import TrivyReport, catalog_from_trivy, parse_trivy_findings
from service.store.database import make_engine
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from service.vulndb.merge import merge_findings, package_identity
from service.vulndb.model import Finding, PackageRef, Severity
from service.vulndb.severity import base_score
from service.vulndb.store import VulnStore
from tests.unit.vulndb.realdata import VULNDATA

TRIVY = Path(__file__).resolve().parents[2] / "fixtures" / "trivy"
NSWG_496 = VULNDATA / "npm-extra" / "nodejs-security-wg" / "496.json"
SUBJECT = ImageSubject(reference="example.test/app:1", digest="sha256:" + "1" * 64, platform="")


def _trivy(name: str) -> tuple[bytes, TrivyReport]:
    raw = (TRIVY / name).read_bytes()
    return raw, TrivyReport.model_validate_json(raw)


def _osv_from_nswg(advisory: dict[str, Any], *, with_cvss: bool) -> dict[str, Any]:
    """The OSV record a ``<X`` / ``>=X`` security-WG advisory describes."""
    fixed = advisory["vulnerable_versions"].removeprefix("<")
    assert advisory["patched_versions"] == f">={fixed}", "only the simple shape is converted"
    record: dict[str, Any] = {
        "id": f"NSWG-ECO-{advisory['id']}",
        "aliases": advisory["cves"],
        "modified": f"{advisory['updated_at']}T00:00:00Z",
        "published": f"{advisory['publish_date']}T00:00:00Z",
        "summary": advisory["overview"],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": advisory["module_name"].lower()},
                "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }
    if with_cvss:
        record["severity"] = [{"type": "CVSS_V3", "score": advisory["cvss_vector"]}]
    return record


def _ours_for_npm_report(tmp_path: Path, *, with_cvss: bool) -> list[Finding]:
    feed_dir = tmp_path / "npm"
    feed_dir.mkdir()
    record = _osv_from_nswg(json.loads(NSWG_496.read_text()), with_cvss=with_cvss)
    (feed_dir / "nswg-496.json").write_text(json.dumps(record))
    db = VulnStore(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))
    db.import_feed(OSVFeed("npm", str(feed_dir)))
    _, report = _trivy("npm.json.golden")
    return match(catalog_from_trivy(report, SUBJECT, engine_version="test"), db)


@pytest.mark.parametrize("with_cvss", [True, False])
def test_same_cve_from_both_sources_is_one_finding(tmp_path: Path, with_cvss: bool) -> None:
    ours = _ours_for_npm_report(tmp_path, with_cvss=with_cvss)
    theirs = parse_trivy_findings(_trivy("npm.json.golden")[0])
    assert len(ours) == 1 and len(theirs) == 1  # both see jQuery 3.3.9
    (mine,), (other,) = ours, theirs
    assert mine.id == other.id  # the CVE id is primary on both sides

    merged = merge_findings(ours, theirs)

    assert len(merged) == 1
    (finding,) = merged
    ids = {mine.id, *mine.aliases, other.id, *other.aliases}
    assert finding.id == mine.id
    assert set(finding.aliases) == ids - {finding.id}
    assert set(finding.fixed_versions) == set(mine.fixed_versions) | set(other.fixed_versions)
    assert finding.fix_available
    assert finding.source.split(",") == sorted({mine.source, other.source})
    assert finding.package == mine.package
    # ours when our record has a CVSS vector, else Trivy's
    confident = mine if with_cvss else other
    assert (finding.cvss_vector, finding.cvss_score, finding.severity) == (
        confident.cvss_vector,
        confident.cvss_score,
        confident.severity,
    )
    if with_cvss:
        assert finding.cvss_score == base_score(json.loads(NSWG_496.read_text())["cvss_vector"])


def test_findings_only_one_source_reports_pass_through(real_db: VulnStore) -> None:
    raw, report = _trivy("busybox-with-lockfile.json.golden")
    ours = match(catalog_from_trivy(report, SUBJECT, engine_version="test"), real_db)
    theirs = parse_trivy_findings(raw)
    assert theirs and all(f.package.type == PackageType.CARGO for f in theirs)

    merged = merge_findings(ours, theirs)

    assert {f.key for f in merged} == {f.key for f in [*ours, *theirs]}
    by_key = {f.key: f for f in [*ours, *theirs]}
    assert all(f == by_key[f.key] for f in merged)


def test_merge_is_deterministic_and_sorted(tmp_path: Path) -> None:
    ours = _ours_for_npm_report(tmp_path, with_cvss=True)
    raw_npm, _ = _trivy("npm.json.golden")
    raw_cargo, _ = _trivy("busybox-with-lockfile.json.golden")
    theirs = parse_trivy_findings(raw_npm) + parse_trivy_findings(raw_cargo)

    first = merge_findings(ours, theirs)

    assert first == merge_findings(ours, list(reversed(theirs)))
    assert [(f.key[1], f.id) for f in first] == sorted((f.key[1], f.id) for f in first)
    assert {f.id for f in merge_findings(theirs, ours)} == {f.id for f in first}


def _finding(
    vuln: str, *aliases: str, name: str = "django", source: str = "trivy", **extra: Any
) -> Finding:
    package = PackageRef(name=name, version="3.2", type="python")
    return Finding(id=vuln, aliases=aliases, package=package, source=source, **extra)


def test_an_alias_on_one_side_matches_the_id_on_the_other() -> None:
    ours = [_finding("CVE-2021-31542", "PYSEC-2021-7", source="tollgate-osv")]
    theirs = [
        _finding("GHSA-rxjp-mfm9-w4wr", "PYSEC-2021-7", name="Django", severity=Severity.HIGH),
        _finding("CVE-2099-0001"),  # another vulnerability of the same package stays apart
    ]

    merged = merge_findings(ours, theirs)

    assert [(f.id, f.aliases) for f in merged] == [
        ("CVE-2021-31542", ("GHSA-rxjp-mfm9-w4wr", "PYSEC-2021-7")),
        ("CVE-2099-0001", ()),
    ]
    # no CVSS anywhere: the finding with a severity label is the more confident one
    assert merged[0].severity is Severity.HIGH
    assert merged[0].source == "tollgate-osv,trivy"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (  # PEP 503 names
            PackageRef(name="Django", version="3.2", type="python"),
            PackageRef(name="django", version="3.2", type="python", purl="pkg:pypi/django@3.2"),
        ),
        (  # Syft names the artifact, Trivy group:artifact; the purl names both
            PackageRef(
                name="log4j-core",
                version="2.14.1",
                type="java",
                purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ),
            PackageRef(name="org.apache.logging.log4j:log4j-core", version="2.14.1", type="java"),
        ),
        (  # purl qualifiers differ between engines (distro release precision)
            PackageRef(
                name="bash",
                version="5.2.15-2+b13",
                type="deb",
                purl="pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&distro=debian-12",
            ),
            PackageRef(
                name="bash",
                version="5.2.15-2+b13",
                type="deb",
                purl="pkg:deb/debian/bash@5.2.15-2+b13?arch=amd64&distro=debian-12.11",
            ),
        ),
    ],
)
def test_package_identity_across_engines(left: PackageRef, right: PackageRef) -> None:
    assert package_identity(left) == package_identity(right)
    assert package_identity(left) != package_identity(left.model_copy(update={"version": "0"}))
