"""Parsing real syft-json output into Tollgate's catalog."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from service.catalog.model import PackageType
from service.catalog.report import parse_report
from service.catalog.syft import syft_environment
from service.catalog.syft_report import SyftDocument, catalog_from_syft
from service.errors import EngineOutputError
from tests.unit.catalog.fixtures import SYFT_REPORT, load, subject_of_syft_report, syft_catalog


def _artifacts_by_name(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in raw["artifacts"]}


def test_every_artifact_becomes_a_package_with_its_identity() -> None:
    raw = load(SYFT_REPORT)
    catalog = syft_catalog()
    artifacts = _artifacts_by_name(raw)
    assert len(catalog.packages) == len(raw["artifacts"])
    for package in catalog.packages:
        artifact = artifacts[package.name]
        assert package.version == artifact["version"]
        assert package.purl == artifact["purl"]
        assert package.cpes == tuple(c["cpe"] for c in artifact["cpes"])
        assert {loc.path for loc in package.locations} == {
            loc["path"] for loc in artifact["locations"]
        }


def test_types_are_mapped() -> None:
    raw = load(SYFT_REPORT)
    types = {p.name: p.type for p in syft_catalog().packages}
    for name, artifact in _artifacts_by_name(raw).items():
        expected = {"deb": PackageType.DEB, "python": PackageType.PYTHON}[artifact["type"]]
        assert types[name] is expected


def test_locations_name_the_layer_diff_id() -> None:
    raw = load(SYFT_REPORT)
    image_layers = {layer["digest"] for layer in raw["source"]["metadata"]["layers"]}
    # syft reports uncompressed layer digests, i.e. the config's diff_ids
    for package in syft_catalog().packages:
        assert package.locations
        assert all(loc.layer in image_layers for loc in package.locations)


def test_licenses_prefer_the_spdx_expression_and_keep_unknown_text() -> None:
    raw = load(SYFT_REPORT)
    catalog = syft_catalog()
    for package in catalog.packages:
        artifact = _artifacts_by_name(raw)[package.name]
        expected = {lic["spdxExpression"] or lic["value"] for lic in artifact["licenses"]}
        assert set(package.licenses) == expected


def test_deb_source_package_rules() -> None:
    raw = load(SYFT_REPORT)
    for package in syft_catalog().packages:
        if package.type is not PackageType.DEB:
            assert package.source_name is None
            continue
        metadata = _artifacts_by_name(raw)[package.name]["metadata"]
        # an empty Source means the source is the binary package itself
        assert package.source_name == (metadata["source"] or package.name)
        assert package.source_version == (metadata["sourceVersion"] or package.version)


def test_versioned_source_field_gives_the_same_source() -> None:
    """``Source: bash (5.2.15-2)`` as older syft versions reported it."""
    raw = load(SYFT_REPORT)
    legacy = copy.deepcopy(raw)
    for artifact in legacy["artifacts"]:
        metadata = artifact.get("metadata") or {}
        if metadata.get("sourceVersion"):
            metadata["source"] = f"{metadata['source']} ({metadata['sourceVersion']})"
            metadata["sourceVersion"] = ""
    subject = subject_of_syft_report(raw)
    legacy_catalog = catalog_from_syft(
        SyftDocument.model_validate(legacy), subject, engine_version="x"
    )
    current = catalog_from_syft(SyftDocument.model_validate(raw), subject, engine_version="x")
    assert any(p.source_version != p.version for p in current.packages if p.type.is_os)
    assert [(p.source_name, p.source_version) for p in legacy_catalog.packages] == [
        (p.source_name, p.source_version) for p in current.packages
    ]


def test_distro_comes_from_os_release() -> None:
    raw = load(SYFT_REPORT)
    distro = syft_catalog().distro
    assert distro is not None
    assert (distro.id, distro.version_id, distro.codename) == (
        raw["distro"]["id"],
        raw["distro"]["versionID"],
        raw["distro"]["versionCodename"],
    )


def test_packages_are_sorted_and_parsing_is_deterministic() -> None:
    catalog = syft_catalog()
    keys = [p.key for p in catalog.packages]
    assert keys == sorted(keys)
    shuffled = load(SYFT_REPORT)
    shuffled["artifacts"].reverse()
    again = catalog_from_syft(
        SyftDocument.model_validate(shuffled),
        subject_of_syft_report(shuffled),
        engine_version=catalog.engine_version,
    )
    assert again == catalog


def test_wrong_shape_is_an_engine_output_error() -> None:
    with pytest.raises(EngineOutputError, match="artifacts"):
        parse_report("syft", SyftDocument, b'{"source": {}}')
    with pytest.raises(EngineOutputError):
        parse_report("syft", SyftDocument, b"syft: not json at all")


def test_syft_runs_with_a_memory_limit_of_its_fixed_part_plus_the_image_it_reads() -> None:
    assert "GOMEMLIMIT" not in syft_environment()
    assert syft_environment(9 * 2**20)["GOMEMLIMIT"] == "99MiB"
    assert syft_environment(35 * 2**20 + 1)["GOMEMLIMIT"] == "126MiB"  # rounded up
