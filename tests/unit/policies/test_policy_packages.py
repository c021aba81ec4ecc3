"""Denied packages (univers ranges) and denied licences (SPDX expressions)."""

from __future__ import annotations

import pytest

from policies.engine import evaluate
from policies.model import ScanState
from service.catalog.model import Catalog, Package, PackageType
from tests.unit.policies.policy_helpers import NOW, npm_catalog, npm_package, policy_of, subject


def _denied(*packages: dict[str, str]) -> dict[str, object]:
    return {"id": "deny", "type": "denied_packages", "action": "block", "packages": list(packages)}


def _fired(rule: dict[str, object], catalog: Catalog) -> bool:
    return evaluate(policy_of(rule), subject(catalog=catalog), now=NOW).rule_results[0].fired


@pytest.mark.parametrize(
    ("versions", "installed", "denied"),
    [
        ("vers:npm/<4.17.21", "4.17.20", True),
        ("vers:npm/<4.17.21", "4.17.21", False),
        ("<4.17.21", "4.17.4", True),  # npm-native range
        (">=1.0.0 <2.0.0", "2.0.0", False),
        (None, "9.9.9", True),  # every version
    ],
)
def test_denied_npm_package_by_range(versions: str | None, installed: str, denied: bool) -> None:
    entry = {"purl": "pkg:npm/lodash"} | ({"versions": versions} if versions else {})
    assert _fired(_denied(entry), npm_catalog([npm_package("lodash", installed)])) is denied


def test_debian_native_range_and_glob_purls() -> None:
    xz = Package(
        name="xz-utils",
        version="5.6.0-0.2",
        type=PackageType.DEB,
        purl="pkg:deb/debian/xz-utils@5.6.0-0.2?arch=amd64&distro=debian-12",
    )
    catalog = npm_catalog([xz])
    assert _fired(_denied({"purl": "pkg:deb/debian/xz-utils", "versions": "<< 5.6.2"}), catalog)
    assert not _fired(
        _denied({"purl": "pkg:deb/debian/xz-utils", "versions": "vers:deb/<5.6.0"}), catalog
    )
    assert _fired(_denied({"purl": "pkg:deb/*/xz-*"}), catalog)


def test_incomparable_version_is_denied_and_says_so() -> None:
    catalog = npm_catalog([npm_package("lodash", "not a version")])
    result = evaluate(
        policy_of(
            _denied({"purl": "pkg:npm/lodash", "versions": "vers:npm/<4.17.21", "reason": "CVE"})
        ),
        subject(catalog=catalog),
        now=NOW,
    ).rule_results[0]
    assert result.fired
    assert "version not comparable" in result.actual and "(CVE)" in result.actual


def _licences(*denied: str) -> dict[str, object]:
    return {"id": "lic", "type": "denied_licenses", "action": "warn", "licenses": list(denied)}


@pytest.mark.parametrize(
    ("declared", "fires"),
    [
        (("MIT",), False),
        (("GPL-3.0-only",), True),
        (("gpl-3.0-only",), True),  # ids compare case-insensitively
        (("MIT OR GPL-3.0-only",), False),  # a choice avoids the denied licence
        (("MIT AND GPL-3.0-only",), True),
        (("MIT", "GPL-3.0-or-later"), True),  # every declared licence applies; glob GPL-*
        (("GPL-2.0-only WITH Classpath-exception-2.0",), True),
        (("Apache-2.0 OR (MIT AND AGPL-3.0-only)",), False),
        (("GPL-3.0-only/X11",), True),  # not an expression: compared as written
        (("MIT/X11",), False),
    ],
)
def test_denied_licences(declared: tuple[str, ...], fires: bool) -> None:
    catalog = npm_catalog([npm_package("pkg", "1.0.0", licenses=declared)])
    assert _fired(_licences("GPL-*", "AGPL-3.0-only"), catalog) is fires


def test_package_rules_are_skipped_when_the_scan_failed() -> None:
    decision = evaluate(
        policy_of(_denied({"purl": "pkg:npm/lodash"}), _licences("GPL-*") | {"id": "lic"}),
        subject(scan=ScanState.FAILED),
        now=NOW,
    )
    assert all(r.skipped and not r.fired for r in decision.rule_results)
    assert decision.outcome == "pass"
