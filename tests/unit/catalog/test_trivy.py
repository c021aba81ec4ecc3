"""Parsing real Trivy reports: package listings."""

from __future__ import annotations

from typing import Any

from service.catalog.model import PackageType
from service.catalog.trivy_report import TrivyReport, catalog_from_trivy
from tests.unit.catalog.fixtures import (
    TRIVY_GOLDEN,
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


def test_trivy_golden_packages_keep_trivys_purls() -> None:
    report = TrivyReport.model_validate(load(TRIVY_GOLDEN))
    subject = trivy_catalog().image
    catalog = catalog_from_trivy(report, subject, engine_version="golden")
    raw = [p for r in load(TRIVY_GOLDEN)["Results"] for p in r.get("Packages", [])]
    assert sorted(p.purl or "" for p in catalog.packages) == sorted(
        p["Identifier"]["PURL"] for p in raw
    )
