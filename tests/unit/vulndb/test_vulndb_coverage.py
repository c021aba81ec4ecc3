"""Packages the matcher cannot audit are listed with why, never reported as clean."""

from __future__ import annotations

import pytest

from service.catalog.model import Distro, PackageType
from service.store.advisories import VulnStore
from service.vulndb.coverage import not_evaluated
from service.vulndb.matcher import match
from tests.unit.vulndb.realdata import make_catalog, pkg

DEBIAN_12 = Distro(id="debian", version_id="12", codename="bookworm")


def _reasons(catalog_packages: list, real_db: VulnStore, distro: Distro | None = None) -> dict:  # type: ignore[type-arg]
    catalog = make_catalog(catalog_packages, distro)
    return {g.package.name: g.reason for g in not_evaluated(catalog, real_db.ecosystems())}


def test_packages_with_data_and_a_version_are_evaluated(real_db: VulnStore) -> None:
    assert {"PyPI", "npm"} <= real_db.ecosystems()
    found = _reasons(
        [pkg("django", "3.2.0", PackageType.PYTHON), pkg("lodash", "4.17.11", PackageType.NPM)],
        real_db,
    )
    assert found == {}


@pytest.mark.parametrize(
    ("package", "distro", "reason"),
    [
        (pkg("left-pad", "1.0", PackageType.PHP), None, "no advisory ecosystem for php"),
        (pkg("zlib1g", "1.2", PackageType.DEB), None, "distribution release is unknown"),
        (
            pkg("zlib1g", "1.2", PackageType.DEB),
            Distro(id="arch", version_id="2024"),
            "no advisory feed for arch 2024",
        ),
        (pkg("serde", "1.0.0", PackageType.CARGO), None, "no crates.io advisories"),
        (pkg("lodash", "not a version!", PackageType.NPM), None, "cannot be ordered"),
    ],
)
def test_unauditable_packages_are_listed_with_their_reason(
    real_db: VulnStore, package: object, distro: Distro | None, reason: str
) -> None:
    found = _reasons([package], real_db, distro)
    assert list(found) == [package.name]  # type: ignore[attr-defined]
    assert reason in found[package.name]  # type: ignore[attr-defined]


def test_a_crafted_5000_digit_version_is_not_evaluated_and_the_match_completes(
    real_db: VulnStore,
) -> None:
    """From packaging's own tests: a version with thousands of digits must not crash a scan."""
    huge = "1" + "0" * 4999
    catalog = make_catalog(
        [pkg("django", huge, PackageType.PYTHON), pkg("lodash", "4.17.11", PackageType.NPM)]
    )
    assert match(catalog, real_db)  # lodash still matched
    (gap,) = not_evaluated(catalog, real_db.ecosystems())
    assert gap.package.name == "django" and len(gap.reason) < 200
