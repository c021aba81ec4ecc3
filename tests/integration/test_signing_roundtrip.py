"""generate -> sign -> attest -> verify against a real Distribution registry, via the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli.signing import app
from service.registry.client import RegistryClient
from service.settings import get_settings
from service.signing import ecdsa
from service.signing.cosign_layout import (
    DSSE_MEDIA_TYPE,
    OCI_CONFIG,
    OCI_MANIFEST,
    SIGNATURE_ANNOTATION,
    SIMPLE_SIGNING_MEDIA_TYPE,
)
from service.signing.dsse import pae, parse_envelope
from service.signing.keys import load_public_key
from tests.support.registry import LocalRegistry
from tests.unit.signing.bundles import push_test_image

pytestmark = pytest.mark.integration

REPO = "signing/roundtrip"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("COSIGN_PASSWORD", "correct horse")
    monkeypatch.setenv("TOLLGATE_DOCKER_CONFIG", str(tmp_path / "no-docker-config.json"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _layers(client: RegistryClient, tag: str) -> tuple[dict[str, object], list[dict[str, object]]]:
    manifest = json.loads(client.get_manifest(REPO, tag, accept=[OCI_MANIFEST]).content)
    assert manifest["schemaVersion"] == 2 and manifest["mediaType"] == OCI_MANIFEST
    assert manifest["config"]["mediaType"] == OCI_CONFIG
    config = json.loads(client.get_blob(REPO, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"] for layer in manifest["layers"]]
    assert config["history"] == [{"created": "0001-01-01T00:00:00Z"}] * len(manifest["layers"])
    return config, manifest["layers"]


def test_generate_sign_attest_verify(registry: LocalRegistry, env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    client = RegistryClient(registry.host)
    try:
        _round_trip(runner, client, registry, tmp_path)
    finally:
        client.close()


def _round_trip(
    runner: CliRunner, client: RegistryClient, registry: LocalRegistry, tmp_path: Path
) -> None:
    digest = push_test_image(client, REPO, "1.0")
    image = f"{registry.host}/{REPO}:1.0"
    name = f"{registry.host}/{REPO}"
    hex_digest = digest.removeprefix("sha256:")

    assert runner.invoke(app, ["key", "generate"]).exit_code == 0
    public = load_public_key((tmp_path / "cosign.pub").read_bytes())

    result = runner.invoke(app, ["sign", image, "--key", "cosign.key", "-a", "team=core"])
    assert result.exit_code == 0, result.output
    _, [layer] = _layers(client, f"sha256-{hex_digest}.sig")
    assert layer["mediaType"] == SIMPLE_SIGNING_MEDIA_TYPE
    payload = client.get_blob(REPO, str(layer["digest"]))
    assert len(payload) == layer["size"]
    assert json.loads(payload) == {
        "critical": {
            "identity": {"docker-reference": name},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": {"team": "core"},
    }
    ecdsa.verify(public, payload, layer["annotations"][SIGNATURE_ANNOTATION])  # type: ignore[index]

    verified = runner.invoke(app, ["verify", image, "--key", "cosign.pub"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout.splitlines()[-1]) == [json.loads(payload)]

    predicate = tmp_path / "bom.json"
    predicate.write_text(json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5"}))
    attested = runner.invoke(
        app,
        [
            "attest",
            image,
            "--key",
            "cosign.key",
            "--type",
            "cyclonedx",
            "--predicate",
            str(predicate),
        ],
    )
    assert attested.exit_code == 0, attested.output
    _, [att] = _layers(client, f"sha256-{hex_digest}.att")
    assert att["mediaType"] == DSSE_MEDIA_TYPE
    assert att["annotations"] == {
        SIGNATURE_ANNOTATION: "",
        "predicateType": "https://cyclonedx.org/bom",
    }
    envelope = parse_envelope(client.get_blob(REPO, str(att["digest"])))
    ecdsa.verify(public, pae(envelope.payload_type, envelope.payload), envelope.signatures[0])
    statement = json.loads(envelope.payload)
    assert statement["subject"] == [{"name": name, "digest": {"sha256": hex_digest}}]
    assert statement["predicate"] == json.loads(predicate.read_text())

    checked = runner.invoke(
        app, ["verify-attestation", image, "--key", "cosign.pub", "--type", "cyclonedx"]
    )
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout) == [statement]

    other = tmp_path / "other"
    other.mkdir()
    runner.invoke(app, ["key", "generate", "--output-key-prefix", str(other / "cosign")])
    wrong = runner.invoke(app, ["verify", image, "--key", str(other / "cosign.pub")])
    assert wrong.exit_code == 2
    assert "does not verify" in wrong.output
