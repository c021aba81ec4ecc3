"""``/api/v1/admissions``: the admission log as JSON, for read scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from service.auth.tokens import Scope
from service.store.admissions import AdmissionEvent, AdmissionLog
from service.store.images import ImageStore
from service.vulndb.model import Severity
from tests.unit.api.conftest import TestClient, token
from tests.unit.store.test_store_console_queries import finding, record

NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)


def _event(minute: int, digest: str | None, name: str) -> AdmissionEvent:
    at = NOW + timedelta(minutes=minute)
    return AdmissionEvent(at, "uid", "CREATE", "shop", "Pod", name, "img", digest, "block", False)


def test_the_log_newest_first_and_by_vulnerability(client: TestClient, engine: Engine) -> None:
    images = ImageStore(engine)
    holding = record(images, 1, "reg/team/a:1", [finding("CVE-2024-0001", Severity.HIGH)])
    clean = record(images, 2, "reg/team/b:1", [])
    AdmissionLog(engine).record(
        [_event(1, holding, "first"), _event(2, clean, "clean"), _event(3, holding, "second")]
    )
    reader = token(engine, Scope.READ)
    events = client.get("/api/v1/admissions?limit=2", headers=reader).json()
    assert [e["name"] for e in events] == ["second", "clean"]
    assert events[0]["namespace"] == "shop" and events[0]["allowed"] is False
    held = client.get("/api/v1/admissions?vulnerability=CVE-2024-0001", headers=reader).json()
    assert [e["name"] for e in held] == ["second", "first"]
    assert client.get("/api/v1/admissions").status_code == 401
    assert client.get("/api/v1/admissions?limit=0", headers=reader).status_code in (400, 422)
