from __future__ import annotations

import base64
import json

import httpx
import pytest
from celery import Celery

from service.errors import ConfigurationError, InvalidReferenceError, RegistryAuthError
from service.jobs.celery_dispatch import SCAN_TASK, CeleryDispatcher
from service.jobs.scan import JobResult, ScanJob
from service.registry.credentials import Credentials, CredentialStore
from service.registry.pull_auth import BearerTransport, PullAuthorization, PullAuthSealer
from service.secret import Secret
from service.settings import Settings
from service.store.scans import ScanStatus, ScanStore
from tests.unit.jobs.fakes import FakeSource
from tests.unit.jobs.test_jobs import REGISTRY, request

PASSWORD = "pa55-w0rd:with-colon"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_parse_basic_and_bearer_for_the_registry_host():
    auth = PullAuthorization.parse("https://Harbor.Example.com/", basic("robot$x", PASSWORD))
    assert auth.host == "harbor.example.com"
    assert auth.credentials == Credentials("robot$x", PASSWORD) and auth.token is None
    assert PASSWORD not in repr(auth)

    bearer = PullAuthorization.parse("http://127.0.0.1:5000", "Bearer abc.def")
    assert bearer.host == "127.0.0.1:5000" and bearer.token == "abc.def"
    assert "abc.def" not in repr(bearer)


@pytest.mark.parametrize(
    "header", ["Basic", "Basic !!!", basic("nocolon", "")[:-4] + "Zm9v", "Digest x", "Bearer "]
)
def test_unusable_authorization_is_refused_without_quoting_it(header: str):
    with pytest.raises(InvalidReferenceError) as raised:
        PullAuthorization.parse("http://127.0.0.1:5000", header)
    secret = header.partition(" ")[2].strip()
    assert not secret or secret not in str(raised.value)


def test_credential_store_gains_the_request_entry_without_changing_the_original():
    configured = CredentialStore({"127.0.0.1:6000": Credentials("ci", "ci-pass")})
    extended = configured.with_entry("127.0.0.1:5000", Credentials("robot", PASSWORD))
    assert extended.lookup("127.0.0.1:5000") == Credentials("robot", PASSWORD)
    assert extended.lookup("127.0.0.1:6000") == Credentials("ci", "ci-pass")
    assert configured.lookup("127.0.0.1:5000") is None


def test_bearer_transport_sends_the_token_to_its_host_only():
    sent: list[tuple[str, str | None]] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.host, request.headers.get("authorization")))
        return httpx.Response(200)

    transport = BearerTransport("registry.example", "tok", httpx.MockTransport(record))
    with httpx.Client(transport=transport) as client:
        client.get("https://registry.example/v2/")
        client.get("https://auth.example/token")
        client.get("https://registry.example/v2/", headers={"Authorization": "Bearer other"})
    assert sent == [
        ("registry.example", "Bearer tok"),
        ("auth.example", None),
        ("registry.example", "Bearer other"),
    ]


def test_sealed_credentials_round_trip_and_expire():
    sealer = PullAuthSealer("server-secret", ttl_seconds=60)
    auth = PullAuthorization("127.0.0.1:5000", credentials=Credentials("robot", PASSWORD))
    sealed = sealer.seal(auth, now=1_000)
    assert PASSWORD not in sealed and "robot" not in sealed
    assert sealer.unseal(sealed, now=1_030) == auth
    token_auth = PullAuthorization("h", token="t0k")
    assert sealer.unseal(sealer.seal(token_auth, now=1_000), now=1_000) == token_auth

    with pytest.raises(RegistryAuthError, match="expired"):
        sealer.unseal(sealed, now=1_061)
    with pytest.raises(RegistryAuthError):
        PullAuthSealer("another-secret").unseal(sealed, now=1_000)


class _Sent:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def send_task(self, name: str, **options: object) -> None:
        self.calls.append({"name": name, **options})


def test_celery_dispatch_seals_credentials_in_the_message():
    app = _Sent()
    sealer = PullAuthSealer("server-secret")
    dispatcher = CeleryDispatcher(app, sealer)  # type: ignore[arg-type]
    auth = PullAuthorization("127.0.0.1:5000", credentials=Credentials("robot", PASSWORD))
    dispatcher.dispatch("scan-1", "admission", auth)
    dispatcher.dispatch("scan-2", "push")
    with_auth, without = app.calls
    assert with_auth["name"] == SCAN_TASK and with_auth["args"] == ["scan-1"]
    assert PASSWORD not in json.dumps(with_auth)
    assert sealer.unseal(with_auth["kwargs"]["pull_auth"]) == auth  # type: ignore[index]
    assert without["kwargs"] == {}

    unsealed = CeleryDispatcher(Celery("t"))
    with pytest.raises(ConfigurationError, match="TOLLGATE_WEBHOOK_SECRET"):
        unsealed.dispatch("scan-3", "push", auth)


def test_sealer_comes_from_the_webhook_secret(tmp_path):
    assert PullAuthSealer.from_settings(Settings(data_dir=tmp_path)) is None
    settings = Settings(data_dir=tmp_path, webhook_secret=Secret("s3"))
    sealer = PullAuthSealer.from_settings(settings)
    auth = PullAuthorization("h", token="t")
    assert sealer is not None and PullAuthSealer("s3").unseal(sealer.seal(auth)) == auth


def test_job_pulls_with_the_request_credentials(engine, job: ScanJob, source: FakeSource):
    scan, _ = ScanStore(engine).submit(request(f"{REGISTRY}/apps/bash:1"))
    auth = PullAuthorization(REGISTRY, credentials=Credentials("robot", PASSWORD))
    assert job.run(scan.id, pull_auth=auth) is JobResult.DONE
    assert source.pull_auth == [auth]


def test_refused_scan_fails_with_the_reason(engine, job: ScanJob, source: FakeSource):
    scans = ScanStore(engine)
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/bash:2"))
    error = RegistryAuthError("the registry credentials sent with this scan expired")
    assert job.refuse(scan.id, error) is JobResult.FAILED
    failed = scans.get(scan.id)
    assert failed.status is ScanStatus.FAILED and "expired" in (failed.error or "")
    assert source.fetched == [] and job.refuse(scan.id, error) is JobResult.SKIPPED
