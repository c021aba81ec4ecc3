"""Server-side request forgery, as an attacker would try it against the running service.

A fake internal service listens on a loopback port; the service allows only the real test
registry (``TOLLGATE_ALLOWED_REGISTRIES``) plus two scripted "registries" an attacker
controls (one redirects, one names a token realm, both to the internal service). Every
path that takes an image reference (API scans, the Distribution and Harbor webhooks, the
Harbor adapter, admission) is refused with nothing reaching the internal service and no
remote body read back, while a legitimate scan of the allowed registry still works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from tests.integration.service_support import (
    VENV_BIN,
    WEBHOOK_SECRET,
    ServerThread,
    api_client,
    api_token,
    finished_scan,
    push_tiny_image,
)
from tests.support.http_servers import Answer, RecordingServer
from tests.support.registry import LocalRegistry, free_loopback_port
from tests.unit.admission.reviews import pod_spec, review, workload

pytestmark = pytest.mark.integration

DIGEST = "sha256:" + "b" * 64
SETTING = "TOLLGATE_ALLOWED_REGISTRIES"
SECRET_BODY = "INTERNAL-SECRET"


@dataclass
class World:
    client: httpx.Client
    hook: dict[str, str]
    internal: RecordingServer
    registry: LocalRegistry
    redirector: RecordingServer
    challenger: RecordingServer
    chatty: RecordingServer


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("outbound")
    with (
        RecordingServer() as internal,
        RecordingServer(
            lambda r: Answer(307, {"Location": f"{internal.url}/latest/meta-data{r.path}"})
        ) as redirector,
        RecordingServer(
            lambda _: Answer(401, {"WWW-Authenticate": f'Bearer realm="{internal.url}/token"'})
        ) as challenger,
        RecordingServer(lambda _: Answer(400, body=SECRET_BODY.encode())) as chatty,
        LocalRegistry(root / "registry") as registry,
    ):
        engine = make_engine(f"sqlite:///{root / 'tollgate.db'}")
        settings = Settings(
            data_dir=root / "data",
            allowed_registries=[s.host for s in (registry, redirector, challenger, chatty)],
            webhook_secret=Secret(WEBHOOK_SECRET),
            docker_config=root / "no-docker-config.json",
            syft_path=str(VENV_BIN / "syft"),
            embedded_workers=1,
            registry_retries=0,
            scan_retries=0,
        )
        token = api_token(engine, "it", Scope.SCAN, Scope.READ)
        hook = {"Authorization": f"Bearer {api_token(engine, 'hook', Scope.WEBHOOK)}"}
        with (
            ServerThread(create_app(settings, engine=engine), free_loopback_port()) as server,
            api_client(server, token) as client,
        ):
            yield World(client, hook, internal, registry, redirector, challenger, chatty)
            assert internal.received == [], "a request reached the internal service"


def scan(world: World, image: str) -> dict[str, object]:
    accepted = world.client.post("/api/v1/scans", json={"image": image})
    assert accepted.status_code == 202, accepted.text
    return finished_scan(world.client, accepted.json()["id"], timeout=60)


def refused(answer: dict[str, object], *words: str) -> None:
    assert answer["status"] == "failed"
    error = str(answer["error"])
    assert all(word in error for word in words), error
    assert SECRET_BODY not in error


def test_an_api_scan_of_an_internal_address_is_refused(world: World) -> None:
    refused(scan(world, f"{world.internal.host}/x@{DIGEST}"), SETTING)
    refused(scan(world, f"169.254.169.254/latest/meta-data@{DIGEST}"), SETTING)
    assert world.internal.received == []


def test_redirects_and_token_realms_to_an_internal_service_are_refused(world: World) -> None:
    refused(scan(world, f"{world.redirector.host}/x@{DIGEST}"), SETTING)
    assert world.redirector.received  # the allowed registry was asked ...
    refused(scan(world, f"{world.challenger.host}/x@{DIGEST}"), SETTING)
    assert world.internal.received == []  # ... but nothing it pointed at was


def test_a_registry_error_body_is_not_read_back(world: World) -> None:
    refused(scan(world, f"{world.chatty.host}/x@{DIGEST}"), "answered 400")


def test_webhooks_naming_an_internal_registry_queue_scans_that_are_refused(world: World) -> None:
    event = {
        "id": "evt-1",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": DIGEST,
            "repository": "x",
        },
        "request": {"host": world.internal.host},
    }
    answer = world.client.post(
        "/api/v1/webhooks/distribution", json={"events": [event]}, headers=world.hook
    )
    assert answer.status_code == 202, answer.text
    (scan_id,) = answer.json()["scans"]
    refused(finished_scan(world.client, scan_id, timeout=60), SETTING)
    assert world.internal.received == []


def test_the_harbor_adapter_does_not_reach_or_echo_an_internal_service(world: World) -> None:
    body = {
        "registry": {"url": world.internal.url, "authorization": "Bearer t0ken"},
        "artifact": {
            "repository": "x",
            "digest": DIGEST,
            "mime_type": "application/vnd.oci.image.manifest.v1+json",
        },
    }
    accepted = world.client.post("/harbor/api/v1/scan", json=body)
    assert accepted.status_code == 202, accepted.text
    refused(finished_scan(world.client, accepted.json()["id"], timeout=60), SETTING)
    report = world.client.get(f"/harbor/api/v1/scan/{accepted.json()['id']}/report")
    assert SECRET_BODY not in report.text
    assert world.internal.received == []


def test_admission_of_a_pod_naming_an_internal_service_is_denied(world: World) -> None:
    never_scanned = "sha256:" + "c" * 64  # (a digest no other test scanned)
    for image in (f"{world.internal.host}/x@{never_scanned}", f"{world.internal.host}/x:1"):
        body = review(workload("Pod", pod_spec(image)))
        answer = world.client.post("/api/v1/admission", json=body, headers=world.hook)
        assert answer.status_code == 200, answer.text
        response = answer.json()["response"]
        assert response["allowed"] is False
        message = response["status"]["message"]
        assert SETTING in message and "fail-closed" in message and SECRET_BODY not in message
    assert world.internal.received == []


def test_a_scan_of_the_allowed_registry_still_works(world: World, tmp_path: Path) -> None:
    digest = push_tiny_image(tmp_path, world.registry.host, "team/app", "outbound")
    done = scan(world, f"{world.registry.host}/team/app@{digest}")
    assert done["status"] == "done", done["error"]
