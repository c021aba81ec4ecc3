"""Embedded mode end to end: SQLite, no broker, real registry notifications and real Syft.

The registry posts its push events to the API, which queues scans that the in-process
pool runs with the same job code the Celery workers use.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.vulndb.feeds.osv import OSVFeed
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    WEBHOOK_SECRET,
    api_token,
    finished_scan,
    notifying_registry,
    wait_for,
)
from tests.support.images import debian_app_layout
from tests.support.oci import push
from tests.support.shared import VULNDATA

pytestmark = pytest.mark.integration

PYPI_OSV = VULNDATA / "osv" / "PyPI"


def test_push_to_registry_produces_a_scan_with_sbom_and_findings(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    VulnStore(engine).import_feed(OSVFeed("PyPI", str(PYPI_OSV)))
    settings = Settings(
        data_dir=tmp_path / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=1,
    )
    token = api_token(engine, "it", Scope.READ)
    app = create_app(settings, engine=engine)
    built = debian_app_layout()
    with notifying_registry(app, tmp_path / "registry", token) as (registry, client):
        digest = push(built.layout, built.tag, registry.host, "tollgate-service/app")

        def scan_id() -> str | None:
            page = client.get("/api/v1/images", params={"repository": "tollgate-service/app"})
            return None if page.json()["total"] == 0 else page.json()["items"][0]["last_scan_id"]

        # The image appears once its scan is done; the registry's notification started it.
        scan = finished_scan(client, wait_for(scan_id, 300, "no scan was recorded for the push"))
        assert scan["status"] == "done", scan["error"]
        assert scan["digest"] == digest

        sbom = client.get(f"/api/v1/images/{digest}/sbom", params={"format": "spdx-json"}).json()
        names = {p["name"] for p in sbom["packages"]}
        assert {name for name, _ in built.python_packages} <= names

        stored = CatalogStore(engine).findings(digest)
        vulns = client.get(f"/api/v1/images/{digest}/vulnerabilities", params={"limit": 500}).json()
        assert vulns["total"] == len([f for f in stored if f.vex is None]) > 0
        pinned = {(name.lower(), version) for name, version in built.python_packages}
        assert all(
            (v["package"]["name"].lower(), v["package"]["version"]) in pinned
            for v in vulns["items"]
        )
        # The scan ended in a decision with the default bundle; the dashboard counts it.
        detail = client.get(f"/api/v1/images/{digest}").json()
        decision = detail["decision"]
        assert decision["digest"] == digest and decision["bundle"] == "default"
        assert detail["policy"] == decision["outcome"]
        assert {r["rule_id"] for r in detail["fired_rules"]} == {
            r["rule_id"] for r in decision["rule_results"] if r["fired"]
        }
        summary = client.get("/api/v1/dashboard/summary").json()
        assert summary["images"] == 1 and sum(summary["findings"].values()) > 0
        assert summary["policy"][decision["outcome"]] == 1 == sum(summary["policy"].values())
