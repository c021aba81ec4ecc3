"""Acceptance: findings on real advisories equal an independent evaluation of the records.

The expected sets are computed here straight from the JSON/text files with
simple, separate comparison code (``packaging`` for PEP 440, integer tuples for
npm/Go, ``dpkg --compare-versions`` for Debian), never from the matcher.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from functools import cmp_to_key
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from service.catalog.model import Distro, PackageType
from service.store.advisories import VulnStore
from service.vulndb.matcher import match
from service.vulndb.model import Finding
from tests.unit.vulndb.realdata import (
    VULNDATA,
    Key,
    dpkg_lt,
    dsa_fixes,
    make_catalog,
    osv_evaluation,
    osv_records,
    pkg,
    semver_key,
)


def expected_ids(
    folders: tuple[str, ...], name: str, installed: str, key: Key, same_name: Callable[[str], bool]
) -> set[str]:
    return {
        record["id"]
        for folder in folders
        for record in osv_records(folder)
        if not record.get("withdrawn")
        and osv_evaluation(record, installed, key, same_name) is not None
    }


def reported_ids(findings: list[Finding]) -> set[str]:
    return {i for f in findings for i in (f.id, *f.aliases)}


PYPI_CASES = [
    ("pillow", "6.2.0"),
    ("Django", "3.2.0"),
    ("urllib3", "1.26.4"),
    ("PyYAML", "5.3"),
    ("aiohttp", "3.8.1"),
    ("django", "3.2"),
    ("pyyaml", "5.3.1"),
    ("requests", "2.31.0"),
    ("jinja2", "2.10"),
    ("Pillow", "99.0"),
]


@pytest.mark.parametrize(("name", "version"), PYPI_CASES)
def test_pypi_matches_independent_evaluation(real_db: VulnStore, name: str, version: str) -> None:
    findings = match(make_catalog([pkg(name, version, PackageType.PYTHON)]), real_db)
    wanted = canonicalize_name(name)
    expected = expected_ids(
        ("PyPI", "PyPI-GHSA"), name, version, Version, lambda n: canonicalize_name(n) == wanted
    )
    reported = reported_ids(findings)
    assert expected <= reported, f"missed: {expected - reported}"
    # every finding is justified by at least one expected record
    for finding in findings:
        assert {finding.id, *finding.aliases} & expected, finding.id
    # one finding per vulnerability: no record id is reported twice
    all_ids = [i for f in findings for i in (f.id, *f.aliases)]
    assert len(all_ids) == len(set(all_ids))
    if version == "99.0":
        assert findings == []


@pytest.mark.parametrize(
    ("name", "version"),
    [("lodash", "4.17.11"), ("minimist", "0.2.0"), ("qs", "6.2.0"), ("lodash", "4.17.21")],
)
def test_npm_matches_independent_evaluation(real_db: VulnStore, name: str, version: str) -> None:
    findings = match(make_catalog([pkg(name, version, PackageType.NPM)]), real_db)
    expected = expected_ids(("npm",), name, version, semver_key, lambda n: n == name)
    assert reported_ids(findings) & expected == expected
    for finding in findings:
        assert {finding.id, *finding.aliases} & expected


@pytest.mark.parametrize(
    "version",
    ["v0.0.0-20190308221718-c2843e01d9a2", "v0.0.0-20220315160706-3147a52a75dd", "v0.31.0"],
)
def test_go_pseudo_versions(real_db: VulnStore, version: str) -> None:
    name = "golang.org/x/crypto"
    findings = match(make_catalog([pkg(name, version, PackageType.GO)]), real_db)
    expected = expected_ids(("Go",), name, version, semver_key, lambda n: n == name)
    assert reported_ids(findings) & expected == expected
    for finding in findings:
        assert {finding.id, *finding.aliases} & expected


def test_maven_uses_purl_group_and_artifact(real_db: VulnStore) -> None:
    package = pkg(
        "log4j-core",
        "2.14.1",
        PackageType.JAVA,
        purl="pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
    )
    findings = match(make_catalog([package]), real_db)
    expected = expected_ids(
        ("Maven",), "", "2.14.1", semver_key, lambda n: n == "org.apache.logging.log4j:log4j-core"
    )
    assert expected and reported_ids(findings) & expected == expected


def _secfixes(release: str, name: str) -> dict[str, list[str]]:
    import json

    data = json.loads((VULNDATA / "alpine" / "secdb-legacy" / release / "main.json").read_text())
    return next(p["pkg"]["secfixes"] for p in data["packages"] if p["pkg"]["name"] == name)


def _apk_key(text: str) -> tuple[Any, ...]:
    base, _, rev = text.partition("-r")
    parts = [(0, int(t)) if t.isdigit() else (1, t) for t in re.findall(r"\d+|[a-z]+", base)]
    return (parts, int(rev or 0))


@pytest.mark.parametrize(
    ("release", "source", "binary", "version"),
    [
        ("v3.11", "openssl", "libssl1.1", "1.1.1d-r0"),
        ("v3.11", "openssl", "libcrypto1.1", "1.1.1d-r3"),
        ("v3.10", "openssl", "libssl1.1", "1.1.1a-r1"),
        ("v3.10", "musl", "musl", "1.1.22-r3"),
        ("v3.11", "musl", "musl", "1.1.24-r0"),
        ("v3.11", "busybox", "busybox", "1.29.3-r9"),
        ("v3.10", "busybox", "ssl_client", "1.30.1-r2"),
    ],
)
def test_alpine_secdb_by_source_package(
    real_db: VulnStore, release: str, source: str, binary: str, version: str
) -> None:
    distro = Distro(id="alpine", version_id=release.removeprefix("v") + ".6")
    package = pkg(binary, version, PackageType.APK, source_name=source, source_version=version)
    findings = match(make_catalog([package], distro), real_db)
    expected = {
        cve
        for fixed, cves in _secfixes(release, source).items()
        if fixed != "0" and _apk_key(version) < _apk_key(fixed)
        for cve in cves
    }
    assert reported_ids(findings) == expected
    assert all(f.package.name == binary and f.fix_available for f in findings)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is the independent oracle")
@pytest.mark.parametrize(
    ("release", "codename", "source", "version"),
    [
        ("11", "bullseye", "openssl", "1.1.1n-0+deb11u3"),
        ("11", "bullseye", "xorg-server", "2:1.20.11-1+deb11u5"),
        ("10", "buster", "openssl", "1.1.1d-0+deb10u7"),
    ],
)
def test_debian_dsa_by_source_package(
    real_db: VulnStore, release: str, codename: str, source: str, version: str
) -> None:
    text = (VULNDATA / "debian" / "security-tracker-2023-03" / "DSA-list").read_text()
    fixes = {vuln: v for (vuln, name), v in dsa_fixes(text, codename).items() if name == source}
    lowest = {
        cve: sorted(v, key=cmp_to_key(lambda a, b: -1 if dpkg_lt(a, b) else 1))[0]
        for cve, v in fixes.items()
    }
    expected = {cve for cve, fixed in lowest.items() if dpkg_lt(version, fixed)}
    binary = pkg(
        f"lib{source}", version, PackageType.DEB, source_name=source, source_version=version
    )
    findings = match(make_catalog([binary], Distro(id="debian", version_id=release)), real_db)
    assert expected
    assert {f.id for f in findings} == expected


def test_os_packages_ignore_upstream_language_advisories(real_db: VulnStore) -> None:
    # a deb named like a PyPI project is matched against Debian advisories only
    package = pkg("pillow", "6.2.0", PackageType.DEB, source_name="pillow")
    findings = match(make_catalog([package], Distro(id="debian", version_id="11")), real_db)
    assert all(f.source == "tollgate-debian-tracker" for f in findings)


def test_findings_are_sorted_and_deterministic(real_db: VulnStore) -> None:
    catalog = make_catalog(
        [pkg("lodash", "4.17.11", PackageType.NPM), pkg("Django", "3.2.0", PackageType.PYTHON)]
    )
    first, second = match(catalog, real_db), match(catalog, real_db)
    assert first == second
    assert [(f.key[1], f.id) for f in first] == sorted((f.key[1], f.id) for f in first)


@pytest.mark.parametrize(
    ("version", "type_"),
    [
        ("1" * 5000, PackageType.PYTHON),  # packaging's own oversized-version vector
        ("1.0a" + "1" * 5000, PackageType.PYTHON),
        ("4." * 50_000, PackageType.NPM),  # a 100 kB string
        ("v1." + "9" * 5000, PackageType.GO),
    ],
)
def test_a_hostile_version_is_not_evaluated_and_the_rest_is(
    real_db: VulnStore, version: str, type_: PackageType
) -> None:
    name = {PackageType.PYTHON: "django", PackageType.NPM: "lodash"}.get(type_, "golang.org/x/net")
    crafted = pkg(name, version, type_)
    plain = match(make_catalog([pkg("lodash", "4.17.11", PackageType.NPM)]), real_db)
    findings = match(make_catalog([crafted, pkg("lodash", "4.17.11", PackageType.NPM)]), real_db)
    assert findings == plain
