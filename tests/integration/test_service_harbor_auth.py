"""The Harbor adapter pulls with the credentials Harbor sends, and keeps them secret.

A registry with htpasswd auth; no credentials are configured in Tollgate. A scan request
carrying wrong Basic credentials fails with the registry's refusal recorded; one carrying
the right ones is scanned and its report served. The password is in neither the SQLite
files nor the log records.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    ServerThread,
    api_client,
    api_token,
    finished_scan,
    push_tiny_image,
)
from tests.support.registry import BasicAuth, LocalRegistry, free_loopback_port

pytestmark = pytest.mark.integration

USER = "robot$tollgate"
PASSWORD = "Harbor-Robot-Secret-7f3a9c"
VULN_REPORT = "application/vnd.security.vulnerability.report; version=1.1"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_harbor_scan_uses_the_request_credentials(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    database = tmp_path / "tollgate.db"
    engine = make_engine(f"sqlite:///{database}")
    settings = Settings(
        data_dir=tmp_path / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        webhook_secret=Secret("harbor-auth-webhook-secret"),
        docker_config=tmp_path / "no-docker-config.json",
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=1,
        registry_retries=0,
    )
    token = api_token(engine, "harbor", Scope.SCAN, Scope.READ)
    app = create_app(settings, engine=engine)
    with (
        LocalRegistry(tmp_path / "registry", auth=BasicAuth(USER, PASSWORD)) as registry,
        ServerThread(app, free_loopback_port()) as server,
        api_client(server, token) as client,
    ):
        digest = push_tiny_image(
            tmp_path, registry.host, "harbor/private", "auth", creds=f"{USER}:{PASSWORD}"
        )

        def harbor_scan(authorization: str) -> dict[str, object]:
            body = {
                "registry": {"url": registry.url, "authorization": authorization},
                "artifact": {
                    "repository": "harbor/private",
                    "digest": digest,
                    "mime_type": "application/vnd.oci.image.manifest.v1+json",
                },
            }
            accepted = client.post("/harbor/api/v1/scan", json=body)
            assert accepted.status_code == 202, accepted.text
            return finished_scan(client, accepted.json()["id"])

        refused = harbor_scan(_basic(USER, "wrong-password"))
        assert refused["status"] == "failed"
        assert "denied access (401)" in str(refused["error"])

        scanned = harbor_scan(_basic(USER, PASSWORD))
        assert scanned["status"] == "done", scanned["error"]
        assert scanned["digest"] == digest
        report = client.get(
            f"/harbor/api/v1/scan/{scanned['id']}/report", headers={"Accept": VULN_REPORT}
        )
        assert report.status_code == 200
        assert report.json()["artifact"] == {
            "repository": "harbor/private",
            "digest": digest,
            "mime_type": "application/vnd.oci.image.manifest.v1+json",
        }
        sbom = client.get(f"/api/v1/images/{digest}/sbom", params={"format": "spdx-json"})
        assert "tollgate-fixture" in {p["name"] for p in sbom.json()["packages"]}

    engine.dispose()
    secrets = [PASSWORD.encode(), _basic(USER, PASSWORD).split()[1].encode()]
    stored = [path for path in tmp_path.iterdir() if path.name.startswith(database.name)]
    assert stored
    for path in stored:
        content = path.read_bytes()
        assert not any(secret in content for secret in secrets), path
    # The worker's records are captured too: the failed attempt was logged.
    assert any("denied access" in record.getMessage() for record in caplog.records)
    assert not any(
        PASSWORD in record.getMessage() or secrets[1].decode() in record.getMessage()
        for record in caplog.records
    )
