"""Parsing real Trivy reports: package listings and vulnerability findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.catalog.model import PackageType
from service.catalog.trivy_report import parse_trivy_findings
from service.vulndb.model import Severity
from tests.unit.catalog.fixtures import (
    TRIVY_GOLDENS,
    TRIVY_REPORT,
    load,
    syft_catalog,
    trivy_catalog,
)


def _raw_packages() -> list[dict[str, Any]]:
    return [p for r in load(TRIVY_REPORT)["Results"] for p in r.get("Packages", [])]


def test_every_listed_package_is_cataloged() -> None:
    catalog = trivy_catalog()
    assert len(catalog.packages) == len(_raw_packages())
    by_name = {p.name: p for p in catalog.packages}
    for raw in _raw_packages():
        package = by_name[raw["Name"]]
        if "ID" in raw:  # OS packages: Trivy's ID keeps the full epoch:version-release
            assert f"{package.name}@{package.version}" == raw["ID"]
        assert set(package.licenses) == set(raw.get("Licenses", []))
        assert all(loc.layer == raw["Layer"]["DiffID"] for loc in package.locations)


def test_same_image_same_packages_as_syft() -> None:
    """Both fixtures are reports on one layout: the engines must agree on what matters
    for matching (identity, type, and the source package advisories name)."""

    def identity(catalog: Any) -> set[tuple[Any, ...]]:
        return {
            (p.name, p.version, p.type, p.source_name, p.source_version) for p in catalog.packages
        }

    assert identity(trivy_catalog()) == identity(syft_catalog())
    assert trivy_catalog().distro == syft_catalog().distro


def test_purls_are_built_where_trivy_gives_none() -> None:
    catalog = trivy_catalog()
    syft_purls = {p.name: p.purl for p in syft_catalog().packages}
    for package in catalog.packages:
        assert package.purl is not None
        if package.type is PackageType.PYTHON:
            assert package.purl == syft_purls[package.name]
        else:
            # same type, namespace, name and version as syft's; qualifiers may differ
            assert package.purl.split("?")[0] == (syft_purls[package.name] or "").split("?")[0]


@pytest.mark.parametrize("golden", TRIVY_GOLDENS, ids=lambda p: Path(p).name)
def test_findings_from_trivy_goldens(golden: Path) -> None:
    raw = load(golden)
    vulnerabilities = [v for r in raw["Results"] for v in r.get("Vulnerabilities", [])]
    findings = parse_trivy_findings(golden.read_text())
    assert len(findings) == len(vulnerabilities)
    for finding, vulnerability in zip(findings, vulnerabilities, strict=True):
        assert finding.source == "trivy"
        assert finding.id == vulnerability["VulnerabilityID"]
        assert finding.package.name == vulnerability["PkgName"]
        assert finding.package.version == vulnerability["InstalledVersion"]
        assert finding.severity is Severity(vulnerability["Severity"].lower())
        assert finding.fix_available == bool(vulnerability.get("FixedVersion"))
        assert finding.package.purl is not None
        if "PkgIdentifier" in vulnerability:
            assert finding.package.purl == vulnerability["PkgIdentifier"]["PURL"]
        scores = {entry.get("V3Score") for entry in vulnerability.get("CVSS", {}).values()} - {None}
        if scores:
            assert finding.cvss_score in scores
            assert finding.cvss_vector is not None
            assert finding.cvss_vector.startswith("CVSS:3")


def test_nvd_cvss_is_preferred_over_other_vendors() -> None:
    golden = TRIVY_GOLDENS[0]
    vulnerability = load(golden)["Results"][0]["Vulnerabilities"][0]
    (finding,) = parse_trivy_findings(golden.read_bytes())
    assert vulnerability["SeveritySource"] not in vulnerability["CVSS"]
    assert finding.cvss_vector == vulnerability["CVSS"]["nvd"]["V3Vector"]


def test_patched_ranges_give_their_lower_bounds_as_fixed_versions() -> None:
    golden = TRIVY_GOLDENS[1]
    findings = parse_trivy_findings(golden.read_text())
    raw = load(golden)["Results"][0]["Vulnerabilities"]
    for finding, vulnerability in zip(findings, raw, strict=True):
        bounds = [
            part.strip().removeprefix(">=").strip()
            for part in vulnerability["FixedVersion"].split(",")
            if part.strip().startswith(">=")
        ]
        assert list(finding.fixed_versions) == bounds
    assert findings[0].package.purl == f"pkg:cargo/{raw[0]['PkgName']}@{raw[0]['InstalledVersion']}"
