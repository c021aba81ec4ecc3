"""Registry push -> scan -> policy pass -> the service signs and attests, verifiable by cosign's
rules (``tollgate verify`` / ``verify-attestation`` with the public key).

Embedded mode (SQLite, no broker), real registry notifications and real Syft.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from policies.loader import parse_bundle
from service.api.app import create_app
from service.auth.tokens import Scope
from service.cli.signing import app as signing_cli
from service.registry.client import RegistryClient
from service.secret import Secret
from service.settings import Settings, get_settings
from service.signing.attestation import PREDICATE_TYPES
from service.signing.cosign_layout import Kind, attachment_tag
from service.signing.keyring import fingerprint
from service.signing.keys import load_public_key, write_key_pair
from service.store.database import make_engine
from service.store.policies import PolicyStore
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    PASSING_BUNDLE,
    VENV_BIN,
    WEBHOOK_SECRET,
    api_token,
    finished_scan,
    notifying_registry,
    push_tiny_image,
    wait_for,
)

pytestmark = pytest.mark.integration

PASSWORD = "service key password"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("TOLLGATE_DOCKER_CONFIG", str(tmp_path / "no-docker-config.json"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_a_passed_push_is_signed_and_attested(tmp_path: Path, cli_env: None):
    keys = write_key_pair(tmp_path / "service", PASSWORD.encode())
    key_id = fingerprint(load_public_key(keys.public_key.read_bytes()))
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    PolicyStore(engine).apply(
        parse_bundle(PASSING_BUNDLE, source="test"), author="test", now=datetime.now(UTC)
    )
    settings = Settings(
        data_dir=tmp_path / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=1,
        signing_key=keys.private_key,
        signing_key_password=Secret(PASSWORD),
        sign_repositories=["signed/*"],
        docker_config=tmp_path / "no-docker-config.json",
    )
    token = api_token(engine, "it", Scope.READ)
    app = create_app(settings, engine=engine)
    with notifying_registry(app, tmp_path / "registry", token) as (registry, client):
        signed = push_tiny_image(tmp_path, registry.host, "signed/app", "signed")
        unsigned = push_tiny_image(tmp_path, registry.host, "other/app", "other")

        def scanned(digest: str) -> dict[str, object] | None:
            response = client.get(f"/api/v1/images/{digest}")
            return response.json() if response.status_code == 200 else None

        for digest in (signed, unsigned):
            image = wait_for(lambda d=digest: scanned(d), 300, f"{digest} was not scanned")
            scan = finished_scan(client, str(image["last_scan_id"]))
            assert scan["status"] == "done", scan["error"]
            assert image["policy"] == "pass" and image["decision"]["outcome"] == "pass"

        detail = client.get(f"/api/v1/images/{signed}").json()
        assert detail["signatures"] == {
            "signed_by": [key_id],
            "attestations": sorted([PREDICATE_TYPES["cyclonedx"], PREDICATE_TYPES["vuln"]]),
        }
        assert client.get(f"/api/v1/images/{unsigned}").json()["signatures"] == {
            "signed_by": [],
            "attestations": [],
        }

        registry_client = RegistryClient(registry.host)
        try:
            for kind in (Kind.SIGNATURE, Kind.ATTESTATION):
                assert registry_client.head_manifest("signed/app", attachment_tag(signed, kind))
                assert not registry_client.head_manifest(
                    "other/app", attachment_tag(unsigned, kind)
                )
        finally:
            registry_client.close()

        runner = CliRunner()
        image_ref = f"{registry.host}/signed/app@{signed}"
        verified = runner.invoke(signing_cli, ["verify", image_ref, "--key", str(keys.public_key)])
        assert verified.exit_code == 0, verified.output
        payloads = json.loads(verified.stdout)
        assert payloads[0]["critical"]["image"]["docker-manifest-digest"] == signed

        sbom = runner.invoke(
            signing_cli,
            ["verify-attestation", image_ref, "--key", str(keys.public_key), "--type", "cyclonedx"],
        )
        assert sbom.exit_code == 0, sbom.output
        statement = json.loads(sbom.stdout)[0]
        assert statement["subject"][0]["digest"]["sha256"] == signed.removeprefix("sha256:")
        components = {c["name"] for c in statement["predicate"].get("components", [])}
        assert "tollgate-fixture" in components
        vuln = runner.invoke(
            signing_cli,
            ["verify-attestation", image_ref, "--key", str(keys.public_key), "--type", "vuln"],
        )
        assert vuln.exit_code == 0, vuln.output
        assert json.loads(vuln.stdout)[0]["predicate"]["scanner"]["uri"] == "pkg:pypi/tollgate"
