"""Cosign 3 bundles as OCI 1.1 referrers on a real Distribution 2.8 registry.

Distribution 2.8 has no Referrers API, so every test here goes through the
``sha256-<hex>`` fallback index tag.  Key-signed bundles are self-made (sigstore-models
types + a test key, see ``tests/unit/signing/bundles.py``), NOT cosign output; the
keyless bundle is a real production Sigstore bundle verified offline against the
committed production trusted root.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli.signing import app
from service.errors import VerificationError
from service.image.model import ImageReference, Transport
from service.registry.client import RegistryClient
from service.settings import get_settings
from service.signing.attestation import PREDICATE_TYPES
from service.signing.bundle import BUNDLE_MEDIA_TYPE
from service.signing.keyless import KeylessPolicy, KeylessVerifier
from service.signing.keys import generate_private_key, public_key_pem
from service.signing.signer import attest_image, sign_image
from service.signing.status import signature_status
from service.signing.store import AttachmentStore
from service.signing.verify import ImageVerifier
from tests.support.registry import LocalRegistry
from tests.unit.signing.bundles import (
    OCI_INDEX,
    add_to_fallback_index,
    dsse_bundle,
    message_signature_bundle,
    publish_referrer,
    push_bundle_manifest,
    push_test_image,
    statement,
)

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cosign"
IDENTITY = (
    "https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2"
)
ISSUER = "https://token.actions.githubusercontent.com"


@pytest.fixture
def client(registry: LocalRegistry) -> Iterator[RegistryClient]:
    registry_client = RegistryClient(registry.host)
    yield registry_client
    registry_client.close()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    monkeypatch.setenv("TOLLGATE_DOCKER_CONFIG", str(tmp_path / "no-docker-config.json"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_key_signed_bundles_via_fallback_tag_verify_with_cli(
    registry: LocalRegistry, client: RegistryClient, cli_env: Path
) -> None:
    repo = "bundles/key-signed"
    digest = push_test_image(client, repo, "1.0")
    key = generate_private_key()
    bom = statement(digest, PREDICATE_TYPES["cyclonedx"], {"bomFormat": "CycloneDX"})
    publish_referrer(client, repo, digest, message_signature_bundle(key, digest))
    publish_referrer(client, repo, digest, dsse_bundle(key, statement(digest)))
    publish_referrer(client, repo, digest, dsse_bundle(key, bom))
    (cli_env / "cosign.pub").write_bytes(public_key_pem(key.public_key()))

    index = json.loads(
        client.get_manifest(repo, digest.replace(":", "-"), accept=[OCI_INDEX]).content
    )
    assert [entry["artifactType"] for entry in index["manifests"]] == [BUNDLE_MEDIA_TYPE] * 3
    runner = CliRunner()
    image = f"{registry.host}/{repo}:1.0"

    verified = runner.invoke(app, ["verify", image, "--key", "cosign.pub"])
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout) == [{"messageDigest": digest}, json.loads(statement(digest))]

    attested = runner.invoke(
        app, ["verify-attestation", image, "--key", "cosign.pub", "--type", "cyclonedx"]
    )
    assert attested.exit_code == 0, attested.output
    assert json.loads(attested.stdout) == [json.loads(bom)]

    (cli_env / "other.pub").write_bytes(public_key_pem(generate_private_key().public_key()))
    wrong = runner.invoke(app, ["verify", image, "--key", "other.pub"])
    assert wrong.exit_code == 2
    assert "does not verify with the given public key" in wrong.output


def test_keyless_real_bundle_as_referrer_with_cli(
    registry: LocalRegistry, client: RegistryClient, cli_env: Path
) -> None:
    repo = "bundles/keyless"
    raw = (FIXTURES / "sigstore_python_github_whl.sigstore.json").read_bytes()
    signed = json.loads(raw)["messageSignature"]["messageDigest"]["digest"]
    digest = "sha256:" + base64.b64decode(signed).hex()
    publish_referrer(client, repo, digest, raw)
    image = f"{registry.host}/{repo}@{digest}"
    root = str(FIXTURES / "sigstore_production_trusted_root.json")
    runner = CliRunner()

    def verify(identity: str, trusted_root: str = root) -> tuple[int, str, str]:
        result = runner.invoke(
            app,
            [
                "verify",
                image,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                ISSUER,
                "--trusted-root",
                trusted_root,
            ],
        )
        return result.exit_code, result.stdout, result.output

    code, stdout, output = verify(IDENTITY)
    assert code == 0, output
    assert json.loads(stdout) == [{"messageDigest": digest}]

    code, _, output = verify(
        "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main"
    )
    assert code == 2
    assert "keyless verification failed" in output

    code, _, output = verify(IDENTITY, str(FIXTURES / "sigstore_staging_trusted_root.json"))
    assert code == 2
    assert "keyless verification failed" in output

    missing = runner.invoke(app, ["verify", image, "--certificate-identity", IDENTITY])
    assert missing.exit_code == 2
    assert "--trusted-root" in missing.output


def test_thousands_of_referrers_in_fallback_index_fail_clearly(
    registry: LocalRegistry, client: RegistryClient
) -> None:
    repo = "bundles/flood"
    digest = push_test_image(client, repo, "1.0")
    key = generate_private_key()
    # Distribution checks that index entries exist: flood with one real referrer, repeated.
    one = push_bundle_manifest(client, repo, digest, message_signature_bundle(key, digest))
    flood = [one] * 5000
    add_to_fallback_index(client, repo, digest, flood)

    with pytest.raises(VerificationError, match="5000 bundles refer to"):
        ImageVerifier(client).verify_signatures(repo, digest, key.public_key())


class _HugeReferrers(BaseHTTPRequestHandler):
    """Answers every GET (manifests, referrers) with a 5 MiB index: over the 4 MiB cap."""

    def do_GET(self) -> None:
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [], "pad": "x" * (5 << 20)}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", OCI_INDEX)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_oversized_manifests_and_referrer_index_are_verification_errors() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HugeReferrers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = RegistryClient(f"127.0.0.1:{server.server_address[1]}")
    digest = "sha256:" + "a" * 64
    policy = KeylessPolicy(FIXTURES / "sigstore_production_trusted_root.json", IDENTITY, ISSUER)
    try:
        verifier = ImageVerifier(client)
        with pytest.raises(VerificationError, match="larger than"):
            verifier.verify_signatures("any/repo", digest, generate_private_key().public_key())
        # keyless reads the cosign 2 .sig tag first: its oversized manifest fails first
        with pytest.raises(VerificationError, match="larger than"):
            verifier.verify_signatures_keyless("any/repo", digest, KeylessVerifier(policy))
    finally:
        client.close()
        server.shutdown()
        server.server_close()


def test_signature_status_against_real_registry(
    client: RegistryClient, registry: LocalRegistry
) -> None:
    repo = "bundles/status"
    digest = push_test_image(client, repo, "1.0")
    unsigned = push_test_image(client, repo, "2.0", label="other")
    team, release, bundler, stranger = (generate_private_key() for _ in range(4))
    store = AttachmentStore(client)
    name = f"{registry.host}/{repo}"
    sign_image(store, team, repository=repo, docker_reference=name, image_digest=digest)
    attest_image(
        store,
        release,
        repository=repo,
        subject_name=name,
        image_digest=digest,
        predicate_type=PREDICATE_TYPES["cyclonedx"],
        predicate={"bomFormat": "CycloneDX"},
    )
    publish_referrer(client, repo, digest, message_signature_bundle(bundler, digest))
    keys = {
        "team": team.public_key(),
        "release": release.public_key(),
        "bundler": bundler.public_key(),
        "stranger": stranger.public_key(),
    }
    ref = ImageReference(transport=Transport.REGISTRY, registry=registry.host, repository=repo)

    status = signature_status(client, ref, digest, keys, ["cyclonedx", "spdxjson"])
    nothing = signature_status(client, ref, unsigned, keys, ["cyclonedx"])

    assert status.signed_by == ("bundler", "team")
    assert status.attestations == (PREDICATE_TYPES["cyclonedx"],)
    assert nothing.signed_by == () and nothing.attestations == ()
