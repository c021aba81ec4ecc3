"""Admission end to end: real registry, real Syft scans through the service, real
AdmissionReview bodies for every workload kind, pass / warn / block / unknown /
cannot-decide."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from tests.integration.service_support import LOOPBACK_REGISTRIES
from tests.support.layers import File
from tests.support.oci import ImageSpec, push, write_image
from tests.support.registry import LocalRegistry, free_loopback_port
from tests.unit.admission.helpers import apply_bundle
from tests.unit.admission.reviews import KINDS, pod_spec, review, workload
from tests.unit.api.conftest import TestClient, token

pytestmark = pytest.mark.integration

BUNDLE = """
name: admission
default: gate
policies:
  - name: gate
    rules:
      - id: scanned
        type: scan_status
        action: block
      - id: no-telnetd
        type: denied_packages
        action: block
        packages: [{purl: "pkg:deb/*/telnetd", reason: cleartext remote shell}]
      - id: no-curl
        type: denied_packages
        action: warn
        packages: [{purl: "pkg:deb/*/curl"}]
"""
OS_RELEASE = (
    b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
    b'VERSION_ID="12"\nID=debian\n'
)


def dpkg_status(package: str) -> bytes:
    return (
        f"Package: {package}\nStatus: install ok installed\nPriority: optional\nSection: net\n"
        f"Installed-Size: 100\nMaintainer: Debian <debian@example.org>\nArchitecture: amd64\n"
        f"Version: 1.0-1\nDescription: {package}\n\n"
    ).encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("admission")
    with LocalRegistry(root / "registry") as registry:
        images = {}
        for name, package in (
            ("pass", "zlib1g"),
            ("warn", "curl"),
            ("block", "telnetd"),
            ("unknown", "bash"),
        ):
            layout = root / f"layout-{name}"
            layer = {
                "etc/os-release": File(OS_RELEASE),
                "var/lib/dpkg/status": File(dpkg_status(package)),
            }
            write_image(layout, ImageSpec(layers=[layer], user="1000"), tag="1")
            digest = push(layout, "1", registry.host, f"apps/{name}")
            images[name] = (f"{registry.host}/apps/{name}:1", digest)
        engine = make_engine(f"sqlite:///{root / 'tollgate.db'}")
        apply_bundle(engine, BUNDLE)
        settings = Settings(
            data_dir=root / "data",
            allowed_registries=LOOPBACK_REGISTRIES,
            webhook_secret=Secret("webhook-secret-0123456789"),
            insecure_registries=[registry.host, f"127.0.0.1:{free_loopback_port()}"],
            syft_path=str(Path(".venv/bin/syft").resolve()),
            admission_bundle="admission",
        )
        app = create_app(settings, engine=engine)
        with TestClient(app) as client:
            scanner = token(engine, Scope.SCAN, Scope.READ)
            ids = [
                client.post("/api/v1/scans", json={"image": images[n][0]}, headers=scanner).json()[
                    "id"
                ]
                for n in ("pass", "warn", "block")
            ]
            deadline = time.monotonic() + 240
            while True:
                states = [client.get(f"/api/v1/scans/{i}", headers=scanner).json() for i in ids]
                if all(s["status"] in ("done", "failed") for s in states):
                    break
                assert time.monotonic() < deadline, states
                time.sleep(0.2)
            assert [s["status"] for s in states] == ["done"] * 3, states
            yield client, images, token(engine, Scope.WEBHOOK), settings


def admit(client, hook, kind, *images, path="/api/v1/admission"):
    body = review(workload(kind, pod_spec(*images)))
    answer = client.post(path, json=body, headers=hook)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["kind"] == "AdmissionReview" and data["apiVersion"] == "admission.k8s.io/v1"
    assert data["response"]["uid"] == body["request"]["uid"]
    return data["response"]


@pytest.mark.parametrize("kind", KINDS)
def test_pass_warn_block_unknown_and_undecidable_for_every_kind(world, kind):
    client, images, hook, settings = world
    passed = admit(client, hook, kind, images["pass"][0])
    assert passed["allowed"] is True and "warnings" not in passed

    warned = admit(client, hook, kind, images["pass"][0], images["warn"][0])
    assert warned["allowed"] is True
    assert any(images["warn"][0] in w and "no-curl" in w for w in warned["warnings"])

    blocked = admit(client, hook, kind, images["warn"][0], images["block"][0])
    assert blocked["allowed"] is False and blocked["status"]["code"] == 403
    message = blocked["status"]["message"]
    assert (
        images["block"][0] in message and images["block"][1] in message and "no-telnetd" in message
    )

    unknown = admit(client, hook, kind, images["unknown"][0])
    assert unknown["allowed"] is False and "unknown to Tollgate" in unknown["status"]["message"]

    down = settings.insecure_registries[1]  # nothing listens there
    undecided = admit(client, hook, kind, f"{down}/apps/pass:1")
    assert undecided["allowed"] is False
    assert "Tollgate cannot decide" in undecided["status"]["message"]
    assert "fail-closed" in undecided["status"]["message"]


def test_mutating_webhook_pins_the_admitted_digests(world):
    client, images, hook, _ = world
    response = admit(
        client,
        hook,
        "Deployment",
        images["pass"][0],
        images["warn"][0],
        path="/api/v1/admission/mutate",
    )
    assert response["allowed"] is True and response["patchType"] == "JSONPatch"
    patch = json.loads(base64.b64decode(response["patch"]))
    assert patch == [
        {
            "op": "replace",
            "path": f"/spec/template/spec/containers/{i}/image",
            "value": f"{ref}@{digest}",
        }
        for i, (ref, digest) in enumerate((images["pass"], images["warn"]))
    ]
    pinned = f"{images['pass'][0]}@{images['pass'][1]}"
    again = admit(client, hook, "Pod", pinned, path="/api/v1/admission/mutate")
    assert again["allowed"] is True and "patch" not in again
