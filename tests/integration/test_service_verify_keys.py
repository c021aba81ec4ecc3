"""An image signed by a CI key (``tollgate sign``) satisfies ``required_signature: keys: [ci]``
once scanned by a service that only verifies (``TOLLGATE_VERIFY_KEYS``, no signing key).

Embedded mode (SQLite, no broker), a real registry and real Syft.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from policies.loader import parse_bundle
from service.api.app import create_app
from service.auth.tokens import Scope
from service.cli.signing import app as signing_cli
from service.secret import Secret
from service.settings import Settings, get_settings
from service.signing.keys import write_key_pair
from service.store.database import make_engine
from service.store.policies import PolicyStore
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    WEBHOOK_SECRET,
    ServerThread,
    api_client,
    api_token,
    finished_scan,
    push_tiny_image,
)
from tests.support.registry import LocalRegistry, free_loopback_port

pytestmark = pytest.mark.integration

PASSWORD = "ci key password"
SIGNED_BY_CI = """
name: default
default: gate
policies:
  - name: gate
    rules:
      - {id: scanned, type: scan_status, action: block}
      - {id: signed, type: required_signature, action: block, keys: [ci]}
"""


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("TOLLGATE_DOCKER_CONFIG", str(tmp_path / "no-docker-config.json"))
    monkeypatch.setenv("COSIGN_PASSWORD", PASSWORD)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _push_signed_and_unsigned(tmp_path: Path, host: str, key: Path) -> tuple[str, str]:
    """Push ``ci/app`` (then signed with ``key``) and ``ci/other``; return their digests."""
    signed = push_tiny_image(tmp_path, host, "ci/app", "signed")
    unsigned = push_tiny_image(tmp_path, host, "ci/other", "unsigned")
    signing = CliRunner().invoke(
        signing_cli, ["sign", f"{host}/ci/app@{signed}", "--key", str(key)]
    )
    assert signing.exit_code == 0, signing.output
    return signed, unsigned


def test_an_image_signed_by_ci_passes_the_ci_signature_rule(tmp_path: Path, cli_env: None):
    ci = write_key_pair(tmp_path / "ci", PASSWORD.encode())
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    PolicyStore(engine).apply(
        parse_bundle(SIGNED_BY_CI, source="test"), author="test", now=datetime.now(UTC)
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=1,
        verify_keys={"ci": ci.public_key},
        docker_config=tmp_path / "no-docker-config.json",
    )
    token = api_token(engine, "it", Scope.READ, Scope.SCAN)
    app = create_app(settings, engine=engine)
    with (
        LocalRegistry(tmp_path / "registry") as registry,
        ServerThread(app, free_loopback_port()) as server,
        api_client(server, token) as client,
    ):
        signed, unsigned = _push_signed_and_unsigned(tmp_path, registry.host, ci.private_key)

        images = {}
        for repository, digest in (("ci/app", signed), ("ci/other", unsigned)):
            response = client.post(
                "/api/v1/scans", json={"image": f"{registry.host}/{repository}@{digest}"}
            )
            assert response.status_code == 202, response.text
            scan = finished_scan(client, response.json()["id"], timeout=300)
            assert scan["status"] == "done", scan["error"]
            images[digest] = client.get(f"/api/v1/images/{digest}").json()

    passed, blocked = images[signed], images[unsigned]
    assert passed["signatures"] == {"signed_by": ["ci"], "attestations": []}
    assert passed["policy"] == "pass" and passed["decision"]["outcome"] == "pass"
    assert blocked["signatures"] == {"signed_by": [], "attestations": []}
    assert blocked["policy"] == "block"
    assert [rule["rule_id"] for rule in blocked["fired_rules"]] == ["signed"]
    assert blocked["fired_rules"][0]["actual"] == "no verified signature"


def test_the_cli_gate_decides_signatures_like_the_service(tmp_path: Path, cli_env: None):
    """`tollgate scan` checks TOLLGATE_VERIFY_KEYS too: exit 0 when CI signed, 1 when not."""
    ci = write_key_pair(tmp_path / "ci", PASSWORD.encode())
    bundle = tmp_path / "signed-by-ci.yaml"
    bundle.write_text(SIGNED_BY_CI)
    env = {
        **os.environ,
        "TOLLGATE_DATA_DIR": str(tmp_path / "cli-data"),
        "TOLLGATE_VERIFY_KEYS": json.dumps({"ci": str(ci.public_key)}),
    }
    tollgate = [sys.executable, "-m", "service.cli"]
    applied = subprocess.run([*tollgate, "policy", "apply", str(bundle)], env=env, check=False)
    assert applied.returncode == 0
    with LocalRegistry(tmp_path / "registry") as registry:
        signed, unsigned = _push_signed_and_unsigned(tmp_path, registry.host, ci.private_key)
        reports = {}
        for repository, digest in (("ci/app", signed), ("ci/other", unsigned)):
            run = subprocess.run(
                [*tollgate, "scan", f"{registry.host}/{repository}@{digest}", "-f", "json"],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            reports[digest] = (run.returncode, run.stdout, run.stderr)
    code, stdout, stderr = reports[signed]
    assert code == 0, stderr
    assert json.loads(stdout)["decision"]["outcome"] == "pass"
    code, stdout, stderr = reports[unsigned]
    assert code == 1, stderr
    fired = [r["rule_id"] for r in json.loads(stdout)["decision"]["rule_results"] if r["fired"]]
    assert fired == ["signed"]
