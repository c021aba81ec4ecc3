"""Issue 15 acceptance: with the PyPI OSV records and the NVD and CVE JSON 5 records of
../shared/vulndata imported, `tollgate scan --policy default` of the demo image (Debian 12
+ PyPI wheels incl. django 3.2 + npm) rates every finding whose CVE has a CVSS score in
either source, names who rated it, and blocks the image. Scored CVEs are read from the
record files here, not from the matcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import run_tollgate
from tests.support.images import PushedImage
from tests.unit.vulndb.realdata import VULNDATA

pytestmark = pytest.mark.integration


def _scored() -> set[str]:
    scored = set()
    for path in (VULNDATA / "nvd").glob("CVE-*.json"):
        metrics = json.loads(path.read_text())["metrics"]
        if any(entries for entries in metrics.values()):
            scored.add(path.stem)
    for path in (VULNDATA / "cve5").glob("CVE-*.json"):
        containers = json.loads(path.read_text())["containers"]
        found = [containers["cna"], *containers.get("adp", [])]
        if any(k.startswith("cvssV") for c in found for m in c.get("metrics", []) for k in m):
            scored.add(path.stem)
    return scored


def test_the_demo_image_is_rated_and_blocked(debian_app_image: PushedImage, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    sources = [
        f"PyPI={VULNDATA / 'osv' / 'PyPI'}",
        f"nvd={VULNDATA / 'nvd'}",
        f"cve={VULNDATA / 'cve5'}",
        f"kev={VULNDATA / 'kev' / 'known_exploited_vulnerabilities.json'}",
    ]
    update = run_tollgate(["db", "update", *(a for s in sources for a in ("-s", s))], data_dir)
    assert update.returncode == 0, update.stderr
    assert "nvd: 128 added" in update.stdout and "cve: 190 added" in update.stdout

    scan = run_tollgate(
        ["scan", debian_app_image.reference, "--policy", "default", "--format", "json"],
        data_dir,
    )
    assert scan.returncode == 1, scan.stderr  # blocked
    report: dict[str, Any] = json.loads(scan.stdout)
    assert report["decision"]["outcome"] == "block"
    scored = _scored()
    rated = [f for f in report["vulnerabilities"] if {f["id"], *f["aliases"]} & scored]
    assert any(f["package"]["name"].lower() == "django" for f in rated)
    assert [f["id"] for f in rated if f["severity"] == "unknown"] == []
    assert all(f["severity_source"] for f in rated)
    assert all(
        f["cvss_v3_vector"] is None or f["cvss_v3_vector"].startswith("CVSS:3.")
        for f in report["vulnerabilities"]
    )
    fired = {r["rule_id"] for r in report["decision"]["rule_results"] if r["fired"]}
    assert "critical-fixable" in fired
