"""Broker mode: PostgreSQL, a private Redis, real ``tollgate worker``/``beat`` subprocesses.

Faults: a worker child killed with SIGKILL mid-scan, Redis stopped while a scan is
submitted, and a registry that never answers. Scans finish or fail with a recorded
reason; none is lost or run to completion twice.
"""

from __future__ import annotations

import base64
import json
import os
import random
import signal
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from policies.loader import parse_bundle
from service.api.app import create_app
from service.auth.tokens import Scope
from service.registry.client import RegistryClient
from service.secret import Secret
from service.settings import Settings
from service.signing.cosign_layout import Kind, attachment_tag
from service.signing.keyring import fingerprint
from service.signing.keys import load_public_key, write_key_pair
from service.store.database import make_engine
from service.store.policies import PolicyStore
from service.store.scans import ScanRow
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
from tests.support.images import debian_app_layout
from tests.support.oci import push
from tests.support.registry import BasicAuth, LocalRegistry, free_loopback_port

pytestmark = pytest.mark.integration

SIGNING_PASSWORD = "broker signing key password"

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def _port_below_ephemeral_range() -> int:
    """A free loopback port no outgoing connection can take as its own while Redis is down
    (a port from ``bind(0)`` can be, and then Redis cannot come back on it)."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for _ in range(100):
        port = random.randrange(max(1024, low - 8000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return free_loopback_port()


class Redis:
    """A private redis-server on a free loopback port (the shared one is never touched)."""

    def __init__(self, workdir: Path) -> None:
        self.port = _port_below_ephemeral_range()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        process = self.process

        def answering() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"redis-server exited ({process.returncode})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), 0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    return conn.recv(16).startswith(b"+PONG")
            except OSError:
                return False

        wait_for(answering, 20, "redis-server did not answer PING")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    name = f"tollgate_service_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[dict]:
    tmp = tmp_path_factory.mktemp("service")
    keys = write_key_pair(tmp / "signing", SIGNING_PASSWORD.encode())
    redis = Redis(tmp)
    redis.start()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TOLLGATE_BROKER_URL": redis.url,
        "TOLLGATE_DATABASE_URL": postgres_url,
        "TOLLGATE_DATA_DIR": str(tmp / "data"),
        "TOLLGATE_SYFT_PATH": str(VENV_BIN / "syft"),
        "TOLLGATE_SCAN_LEASE_SECONDS": "4",
        "TOLLGATE_RECOVERY_INTERVAL_SECONDS": "3",
        "TOLLGATE_REGISTRY_TIMEOUT": "2",
        "TOLLGATE_REGISTRY_RETRIES": "0",
        "TOLLGATE_ALLOWED_REGISTRIES": json.dumps(LOOPBACK_REGISTRIES),
        "TOLLGATE_SCAN_RETRIES": "2",
        "TOLLGATE_SCAN_RETRY_BACKOFF": "0.5",
        "TOLLGATE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "TOLLGATE_DOCKER_CONFIG": str(tmp / "no-docker-config.json"),
        "TOLLGATE_SIGNING_KEY": str(keys.private_key),
        "TOLLGATE_SIGNING_KEY_PASSWORD": SIGNING_PASSWORD,
        "TOLLGATE_SIGN_REPOSITORIES": '["tollgate-broker/signed"]',
    }
    log = (tmp / "worker.log").open("wb")
    worker = subprocess.Popen(
        [
            str(VENV_BIN / "tollgate"),
            "worker",
            "--queues",
            "admission,push,bulk",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    beat = subprocess.Popen(
        [
            str(VENV_BIN / "tollgate"),
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(tmp / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    settings = Settings(
        data_dir=tmp / "data",
        allowed_registries=LOOPBACK_REGISTRIES,
        database_url=postgres_url,
        broker_url=redis.url,
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
    )
    engine = make_engine(postgres_url)
    token = api_token(engine, "it", Scope.ADMIN)
    app = create_app(settings, engine=engine)
    try:
        with notifying_registry(app, tmp / "registry", token) as (registry, client):
            yield {
                "client": client,
                "registry": registry,
                "engine": engine,
                "redis": redis,
                "worker": worker,
                "tmp": tmp,
                "key_id": fingerprint(load_public_key(keys.public_key.read_bytes())),
            }
    finally:
        beat.send_signal(signal.SIGTERM)
        beat.wait(30)
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        redis.stop()
        engine.dispose()
        log.close()


@pytest.fixture(autouse=True)
def worker_log_of_each_test(service: dict) -> Iterator[None]:
    """What the worker and beat logged during a test, printed after it (pytest shows it
    when the test fails: the workers run in other processes)."""
    path = service["tmp"] / "worker.log"
    start = path.stat().st_size
    yield
    with path.open("rb") as log:
        log.seek(start)
        print(log.read()[-20_000:].decode(errors="replace"))


def scans_of(engine: Engine, reference_part: str) -> list[ScanRow]:
    with Session(engine) as session:
        return list(
            session.exec(select(ScanRow).where(col(ScanRow.reference).contains(reference_part)))
        )


def test_push_is_scanned_by_a_celery_worker(service):
    client, registry = service["client"], service["registry"]
    digest = push_tiny_image(service["tmp"], registry.host, "tollgate-broker/tiny", "push")

    def scan_id() -> str | None:
        rows = scans_of(service["engine"], "tollgate-broker/tiny")
        return rows[0].id if rows else None

    scan = finished_scan(client, wait_for(scan_id, 60, "the push did not queue a scan"))
    assert scan["status"] == "done", scan["error"]
    assert scan["digest"] == digest
    image = client.get(f"/api/v1/images/{digest}").json()
    assert image["packages"] >= 1
    sbom = client.get(f"/api/v1/images/{digest}/sbom").json()
    assert "tollgate-fixture" in {c["name"] for c in sbom["components"]}
    assert client.get("/readyz").json() == {"status": "ready", "database": True, "broker": True}


def _children(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in out.stdout.split()]


def test_worker_killed_mid_scan_loses_nothing_and_finishes_once(service):
    client, registry, engine = service["client"], service["registry"], service["engine"]
    built = debian_app_layout()
    digest = push(built.layout, built.tag, registry.host, "tollgate-broker/killed")
    rows = wait_for(lambda: scans_of(engine, "tollgate-broker/killed"), 60, "no scan queued")
    scan_id = rows[0].id
    wait_for(
        lambda: client.get(f"/api/v1/scans/{scan_id}").json()["status"] == "running",
        60,
        "the scan never started",
        every=0.05,
    )
    # Kill the pool process running the scan (the children of the worker we started).
    for pid in _children(service["worker"].pid):
        os.kill(pid, signal.SIGKILL)

    scan = finished_scan(client, scan_id, timeout=240)
    assert scan["status"] == "done", scan["error"]
    assert scan["attempts"] >= 2 and scan["digest"] == digest
    assert len(scans_of(engine, "tollgate-broker/killed")) == 1


def test_scan_submitted_while_redis_is_down_runs_after_it_returns(service):
    client, registry = service["client"], service["registry"]
    push_tiny_image(service["tmp"], registry.host, "tollgate-broker/redis", "redis")
    scan_ids = wait_for(lambda: scans_of(service["engine"], "tollgate-broker/redis"), 60, "no scan")
    finished_scan(client, scan_ids[0].id)
    _scan_submitted_while_redis_is_down(service)


def _scan_submitted_while_redis_is_down(service: dict[str, Any]) -> None:
    """Stops Redis, submits a scan of the image the test above pushed, starts Redis again:
    the scan is accepted while Redis is down and done once it is back."""
    client, registry, redis = service["client"], service["registry"], service["redis"]
    redis.stop()
    response = client.post(
        "/api/v1/scans",
        json={"image": f"{registry.host}/tollgate-broker/redis:1", "platform": "linux/amd64"},
    )
    assert response.status_code == 202
    assert client.get("/readyz").status_code == 503
    redis.start()
    wait_for(lambda: client.get("/readyz").status_code == 200, 60, "broker not ready again")
    scan = finished_scan(client, response.json()["id"], timeout=180)
    assert scan["status"] == "done", scan["error"]


@contextmanager
def silent_registry() -> Iterator[str]:
    """A loopback "registry" that accepts connections and never answers; yields its host."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def hold() -> None:
        silent.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    threading.Thread(target=hold, daemon=True).start()
    try:
        yield f"127.0.0.1:{silent.getsockname()[1]}"
    finally:
        stop.set()
        for conn in accepted:
            conn.close()
        silent.close()


def test_redis_stopped_under_a_running_scan_loses_no_scan(service):
    """Redis stops while the worker runs a scan (its message not yet acknowledged) and
    while another is submitted: once Redis is back, the worker reconnects, the submitted
    scan runs and the interrupted one ends with its own reason."""
    client = service["client"]
    with silent_registry() as host:
        running = client.post("/api/v1/scans", json={"image": f"{host}/slow/running:1"}).json()
        wait_for(
            lambda: client.get(f"/api/v1/scans/{running['id']}").json()["status"] == "running",
            60,
            "the scan never started",
            every=0.05,
        )
        _scan_submitted_while_redis_is_down(service)
        interrupted = finished_scan(client, running["id"], timeout=180)
    assert interrupted["status"] == "failed" and interrupted["error"]
    assert len(scans_of(service["engine"], f"{host}/slow/running")) == 1


def test_registry_that_never_answers_fails_with_a_reason(service):
    client = service["client"]
    with silent_registry() as host:
        response = client.post("/api/v1/scans", json={"image": f"{host}/slow/app:1"})
        scan = finished_scan(client, response.json()["id"], timeout=120)
    assert scan["status"] == "failed"
    assert scan["error"]
    assert len(scans_of(service["engine"], f"{host}/slow/app")) == 1


def test_harbor_credentials_reach_the_worker_sealed(service):
    """The worker pulls with the Basic credentials Harbor sent; the broker carried them
    encrypted, so the password is in neither the database nor the worker's log."""
    client, tmp = service["client"], service["tmp"]
    user, password = "robot$broker", "Broker-Harbor-Secret-41d2"
    with LocalRegistry(tmp / "private-registry", auth=BasicAuth(user, password)) as private:
        digest = push_tiny_image(
            tmp, private.host, "harbor/private", "sealed", creds=f"{user}:{password}"
        )
        authorization = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        body = {
            "registry": {"url": private.url, "authorization": authorization},
            "artifact": {"repository": "harbor/private", "digest": digest},
        }
        accepted = client.post("/harbor/api/v1/scan", json=body)
        assert accepted.status_code == 202, accepted.text
        scan = finished_scan(client, accepted.json()["id"])
        assert scan["status"] == "done", scan["error"]
        assert scan["digest"] == digest
    with Session(service["engine"]) as session:
        rows = list(session.exec(select(ScanRow).where(col(ScanRow.digest) == digest)))
    assert rows and not any(password in repr(row.model_dump()) for row in rows)
    worker_log = (tmp / "worker.log").read_bytes()
    assert password.encode() not in worker_log
    assert authorization.split()[1].encode() not in worker_log


def test_a_passed_push_is_signed_by_the_celery_worker(service):
    client, registry, engine = service["client"], service["registry"], service["engine"]
    PolicyStore(engine).apply(
        parse_bundle(PASSING_BUNDLE, source="test"), author="test", now=datetime.now(UTC)
    )
    digest = push_tiny_image(service["tmp"], registry.host, "tollgate-broker/signed", "signed")
    rows = wait_for(lambda: scans_of(engine, "tollgate-broker/signed"), 60, "no scan queued")
    scan = finished_scan(client, rows[0].id)
    assert scan["status"] == "done", scan["error"]
    image = client.get(f"/api/v1/images/{digest}").json()
    assert image["policy"] == "pass"
    assert image["signatures"]["signed_by"] == [service["key_id"]]
    registry_client = RegistryClient(registry.host)
    try:
        for kind in (Kind.SIGNATURE, Kind.ATTESTATION):
            tag = attachment_tag(digest, kind)
            assert registry_client.head_manifest("tollgate-broker/signed", tag)
    finally:
        registry_client.close()
