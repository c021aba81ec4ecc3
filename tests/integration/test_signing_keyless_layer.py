"""``tollgate verify`` of a cosign 2 keyless ``.sig`` layer stored in a real registry, and
the signature status of a keyless ``.att`` layer there.

The layer is SELF-MADE (``tests/unit/signing/keyless_pki.py``: own CA chain and Rekor
key, written to a trusted_root.json); the real cosign keyless layer is verified in
``tests/unit/signing/test_keyless_layer.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from service.cli.signing import app
from service.image.reference import parse_reference
from service.registry.client import RegistryClient
from service.settings import get_settings
from service.signing.attestation import PREDICATE_TYPES
from service.signing.cosign_layout import DSSE_MEDIA_TYPE, SIMPLE_SIGNING_MEDIA_TYPE, Kind
from service.signing.keyless import KeylessPolicy, KeylessVerifier
from service.signing.keyless_layer import BUNDLE_ANNOTATION, OIDC_ISSUER_OID
from service.signing.payload import in_toto_statement, simple_signing_payload
from service.signing.status import signature_status
from service.signing.store import AttachmentStore
from tests.support.registry import LocalRegistry
from tests.unit.signing.bundles import push_test_image
from tests.unit.signing.keyless_pki import IDENTITY, ISSUER, SelfMadeSigstore

pytestmark = pytest.mark.integration

REPO = "signing/keyless-layer"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("TOLLGATE_DOCKER_CONFIG", str(tmp_path / "no-docker-config.json"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def client(registry: LocalRegistry) -> Iterator[RegistryClient]:
    client = RegistryClient(registry.host)
    yield client
    client.close()


def test_cli_verifies_keyless_layer_like_cosign(
    registry: LocalRegistry,
    env: None,
    sigstore: SelfMadeSigstore,
    root: Path,
    client: RegistryClient,
) -> None:
    digest = push_test_image(client, REPO, "1.0")
    payload = simple_signing_payload(f"{registry.host}/{REPO}", digest)
    annotations = sigstore.annotations(payload)
    AttachmentStore(client).attach(
        REPO,
        digest,
        Kind.SIGNATURE,
        media_type=SIMPLE_SIGNING_MEDIA_TYPE,
        payload=payload,
        annotations=annotations,
    )
    image = f"{registry.host}/{REPO}:1.0"
    runner = CliRunner()

    def verify(identity: str, issuer: str) -> object:
        return runner.invoke(
            app,
            [
                "verify",
                image,
                "--certificate-identity",
                identity,
                "--certificate-oidc-issuer",
                issuer,
                "--trusted-root",
                str(root),
            ],
        )

    result = verify(IDENTITY, ISSUER)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    line = result.stdout.splitlines()[-1]  # type: ignore[attr-defined]
    expected = json.loads(payload)
    expected["optional"] = {
        OIDC_ISSUER_OID: ISSUER,
        "Bundle": json.loads(annotations[BUNDLE_ANNOTATION]),
        "Issuer": ISSUER,
        "Subject": IDENTITY,
    }
    assert line == json.dumps([expected], separators=(",", ":"))

    for identity, issuer in [("intruder@example.test", ISSUER), (IDENTITY, "https://x.test")]:
        refused = verify(identity, issuer)
        assert refused.exit_code == 2  # type: ignore[attr-defined]
        assert "no valid keyless signature" in refused.output  # type: ignore[attr-defined]


def _attest_provenance(client: RegistryClient, sigstore: SelfMadeSigstore, digest: str) -> bytes:
    """A keyless SLSA provenance attestation of ``digest`` as cosign 2 attaches it."""
    statement = in_toto_statement(
        f"{client.host}/{REPO}", digest, PREDICATE_TYPES["slsaprovenance1"], {"ci": "yes"}
    )
    envelope, annotations = sigstore.attestation(statement)
    AttachmentStore(client).attach(
        REPO,
        digest,
        Kind.ATTESTATION,
        media_type=DSSE_MEDIA_TYPE,
        payload=envelope,
        annotations=annotations,
    )
    return statement


def test_cli_verifies_keyless_attestation_like_cosign(
    registry: LocalRegistry,
    env: None,
    sigstore: SelfMadeSigstore,
    root: Path,
    client: RegistryClient,
) -> None:
    digest = push_test_image(client, REPO, "cli-attested")
    statement = _attest_provenance(client, sigstore, digest)
    runner = CliRunner()

    def verify_attestation(identity: str, type_name: str) -> Result:
        keyless = ["--certificate-identity", identity, "--certificate-oidc-issuer", ISSUER]
        return runner.invoke(
            app,
            [
                "verify-attestation",
                f"{registry.host}/{REPO}:cli-attested",
                *keyless,
                "--trusted-root",
                str(root),
                "--type",
                type_name,
            ],
        )

    result = verify_attestation(IDENTITY, "slsaprovenance1")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [json.loads(statement)]
    assert "verified against the certificate identity and trusted root" in result.stderr

    for identity, type_name in [("intruder@example.test", "slsaprovenance1"), (IDENTITY, "spdx")]:
        refused = verify_attestation(identity, type_name)
        assert refused.exit_code == 2
        assert "no valid keyless attestation" in refused.output


def test_cli_verify_needs_a_key_or_every_keyless_option(env: None, tmp_path: Path) -> None:
    runner = CliRunner()
    image = "127.0.0.1:5000/team/app:1"
    half = runner.invoke(app, ["verify-attestation", image, "--certificate-identity", IDENTITY])
    assert half.exit_code == 2 and "nothing to verify against" in half.output
    both = runner.invoke(
        app, ["verify", image, "--key", str(tmp_path / "k.pub"), "--trusted-root", "r.json"]
    )
    assert both.exit_code == 2 and "not both" in both.output


def test_signature_status_counts_keyless_attestation_in_registry(
    registry: LocalRegistry, sigstore: SelfMadeSigstore, root: Path, client: RegistryClient
) -> None:
    policies = [
        KeylessVerifier(KeylessPolicy(root, IDENTITY, ISSUER)),
        KeylessVerifier(KeylessPolicy(root, "intruder@example.test", ISSUER)),
    ]
    digest = push_test_image(client, REPO, "attested")
    _attest_provenance(client, sigstore, digest)
    ref = parse_reference(f"{registry.host}/{REPO}@{digest}")
    wanted = ["slsaprovenance1", "cyclonedx"]
    status = signature_status(client, ref, digest, {}, wanted, keyless=policies)
    intruder = signature_status(client, ref, digest, {}, wanted, keyless=policies[1:])

    assert status.attestations == (PREDICATE_TYPES["slsaprovenance1"],)
    assert intruder.attestations == ()
