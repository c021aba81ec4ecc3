"""Ubuntu's OSV records (../shared/vulndata/osv/Ubuntu, several schema generations)
matched for Ubuntu images by source package and release, rated by Ubuntu's priority.
Expectations are read from the records."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.catalog.model import Distro, PackageType
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import Matcher
from service.vulndb.model import Finding
from service.vulndb.records import SkipReason
from service.vulndb.severity import from_label
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

UBUNTU = VULNDATA / "osv" / "Ubuntu"


@pytest.fixture(scope="module")
def ubuntu(tmp_path_factory: pytest.TempPathFactory) -> VulnStore:
    store = VulnStore(make_engine(f"sqlite:///{tmp_path_factory.mktemp('u') / 'v.db'}"))
    store.import_feed(OSVFeed("Ubuntu", str(UBUNTU)))
    return store


def _entry(record: str, ecosystem: str, package: str) -> dict[str, Any]:
    data = json.loads((UBUNTU / f"{record}.json").read_text())
    return next(
        a
        for a in data["affected"]
        if a["package"]["ecosystem"] == ecosystem and a["package"]["name"] == package
    )


def _fix(entry: dict[str, Any]) -> str:
    return next(e["fixed"] for r in entry["ranges"] for e in r["events"] if "fixed" in e)


def _scan(store: VulnStore, release: str, source: str, binary: str, version: str) -> list[Finding]:
    package = pkg(binary, version, PackageType.DEB, source_name=source, source_version=version)
    catalog = make_catalog([package], distro=Distro(id="ubuntu", version_id=release))
    return Matcher(store).match(catalog)


def test_a_package_below_the_fix_is_rated_by_ubuntu(ubuntu: VulnStore) -> None:
    entry = _entry("UBUNTU-CVE-2023-38545", "Ubuntu:22.04:LTS", "curl")
    fixed = _fix(entry)
    before = fixed.rsplit(".", 1)[0] + "." + str(int(fixed.rsplit(".", 1)[1]) - 1)
    findings = {f.id: f for f in _scan(ubuntu, "22.04", "curl", "libcurl4", before)}
    curl = findings["CVE-2023-38545"]
    assert "UBUNTU-CVE-2023-38545" in curl.aliases
    assert curl.fixed_versions == (fixed,)
    # Ubuntu's priority, not the record's CVSS 9.8: the distro rates its own package
    assert curl.severity is from_label(entry["ecosystem_specific"]["ubuntu_priority"])
    assert curl.severity_source == "ubuntu"
    assert curl.cvss_v3_score == 9.8
    assert "CVE-2023-38545" not in {f.id for f in _scan(ubuntu, "22.04", "curl", "libcurl4", fixed)}


def test_schema_1_7_ubuntu_severity_entry(ubuntu: VulnStore) -> None:
    record = json.loads((UBUNTU / "UBUNTU-CVE-2024-6119.json").read_text())
    priority = next(s["score"] for s in record["severity"] if s["type"] == "Ubuntu")
    findings = {f.id: f for f in _scan(ubuntu, "24.04", "openssl", "libssl3t64", "3.0.13-0ubuntu3")}
    openssl = findings["CVE-2024-6119"]
    assert (openssl.severity, openssl.severity_source) == (from_label(priority), "ubuntu")
    assert openssl.fixed_versions == (
        _fix(_entry("UBUNTU-CVE-2024-6119", "Ubuntu:24.04:LTS", "openssl")),
    )


def test_pro_streams_and_other_releases_stay_apart(ubuntu: VulnStore) -> None:
    assert {"Ubuntu:22.04", "Ubuntu:24.04", "Ubuntu:25.04"} <= ubuntu.ecosystems()
    assert "Ubuntu:Pro:16.04" in ubuntu.ecosystems()
    # nodejs 4.2.6 is listed only in the ESM stream of 16.04: a standard image is not matched
    assert _scan(ubuntu, "16.04", "nodejs", "nodejs", "4.2.6~dfsg-1ubuntu4.2") == []


def test_notices_are_left_out_counted(ubuntu: VulnStore) -> None:
    entries = sum(
        len(json.loads(p.read_text()).get("affected", []))
        for p in sorted(UBUNTU.glob("USN-*.json"))
    )
    (state,) = [s for s in ubuntu.status().sources if s.source == "osv:Ubuntu"]
    assert state.skipped_entries[SkipReason.NOTICE.value] == entries
    assert not any(
        f.id.startswith("USN-") for f in _scan(ubuntu, "22.04", "curl", "curl", "7.81.0-1ubuntu1")
    )


def test_an_unfixed_entry_matches_every_version(ubuntu: VulnStore) -> None:
    entry = _entry("UBUNTU-CVE-2023-7008", "Ubuntu:22.04:LTS", "systemd")
    assert all("fixed" not in e for r in entry["ranges"] for e in r["events"])
    findings = {f.id: f for f in _scan(ubuntu, "22.04", "systemd", "systemd", "249.11-0ubuntu3.12")}
    assert findings["CVE-2023-7008"].fix_available is False
