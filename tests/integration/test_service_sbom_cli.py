"""The API's SBOM of a scanned image is byte-identical to `tollgate sbom` of the same reference.

Both are rendered from the image's catalog and dated by the image config's creation time
(the service reads it from the image row); the CLI runs with its own data directory so
that it catalogs the image itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.sbom import SbomFormat
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
from tests.support.registry import LocalRegistry, free_loopback_port

pytestmark = pytest.mark.integration


def _cli_sbom(reference: str, fmt: SbomFormat, data_dir: Path, target: Path) -> bytes:
    env = {
        **os.environ,
        "TOLLGATE_DATA_DIR": str(data_dir),
        "TOLLGATE_SYFT_PATH": str(VENV_BIN / "syft"),
    }
    subprocess.run(
        [
            sys.executable,
            "-m",
            "service.cli",
            "sbom",
            reference,
            "-f",
            fmt.value,
            "-o",
            str(target),
        ],
        env=env,
        capture_output=True,
        check=True,
        timeout=300,
    )
    return target.read_bytes()


def test_api_sbom_matches_the_cli(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    settings = Settings(
        data_dir=tmp_path / "service-data",
        allowed_registries=LOOPBACK_REGISTRIES,
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=1,
    )
    token = api_token(engine, "sbom", Scope.SCAN, Scope.READ)
    app = create_app(settings, engine=engine)
    with (
        LocalRegistry(tmp_path / "registry") as registry,
        ServerThread(app, free_loopback_port()) as server,
        api_client(server, token) as client,
    ):
        digest = push_tiny_image(tmp_path, registry.host, "sbom/app", "sbom")
        reference = f"{registry.host}/sbom/app@{digest}"
        accepted = client.post("/api/v1/scans", json={"image": reference})
        scan = finished_scan(client, accepted.json()["id"])
        assert scan["status"] == "done", scan["error"]
        assert client.get(f"/api/v1/images/{digest}").json()["reference"] == reference

        for fmt in SbomFormat:
            served = client.get(f"/api/v1/images/{digest}/sbom", params={"format": fmt.value})
            assert served.status_code == 200
            cli = _cli_sbom(reference, fmt, tmp_path / "cli-data", tmp_path / f"cli.{fmt.value}")
            assert served.content == cli, fmt
