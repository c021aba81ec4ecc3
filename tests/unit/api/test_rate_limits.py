"""The API answers a flood of scan requests and oversized webhook deliveries with 429 and
``Retry-After``; a delivery refused part way is redelivered without losing an event."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.jobs.rate import SubmissionRate
from service.secret import Secret
from service.settings import Settings
from tests.unit.api.conftest import WEBHOOK_SECRET, InlineDispatcher, TestClient
from tests.unit.api.test_webhooks_harbor_dashboard import MANIFEST, digest, envelope, event


@pytest.fixture
def limited(engine: Engine, dispatcher: InlineDispatcher, tmp_path) -> TestClient:  # type: ignore[no-untyped-def]
    dispatcher.hold = True
    settings = Settings(
        data_dir=tmp_path,
        webhook_secret=Secret(WEBHOOK_SECRET),
        scan_rate_burst=3,
        scan_rate_per_minute=1,
    )
    app = create_app(settings, engine=engine, dispatcher=dispatcher, engine_version=lambda _: "1")
    with TestClient(app) as client:
        yield client


def test_a_flood_of_scan_requests_gets_429_with_retry_after(limited: TestClient, admin) -> None:  # type: ignore[no-untyped-def]
    answers = [
        limited.post(
            "/api/v1/scans", json={"image": f"127.0.0.1:5000/flood/app:{n}"}, headers=admin
        )
        for n in range(5)
    ]
    assert [a.status_code for a in answers] == [202, 202, 202, 429, 429]
    assert int(answers[3].headers["Retry-After"]) > 0
    assert "too many scan requests" in answers[3].json()["message"]
    metrics = limited.get("/metrics", headers=admin).text  # the limits and refusals show
    assert 'tollgate_limit{name="scan_rate_burst"} 3.0' in metrics
    assert "tollgate_scan_requests_rate_limited_total 2.0" in metrics


def test_a_webhook_delivery_past_the_limit_is_retried_without_losing_events(
    limited: TestClient, dispatcher: InlineDispatcher
) -> None:
    secret = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    body = envelope(*(event(f"e{n}", "push", MANIFEST, "apps/many", digest(n)) for n in range(5)))
    first = limited.post("/api/v1/webhooks/distribution", content=body, headers=secret)
    assert first.status_code == 429 and "Retry-After" in first.headers
    assert len(dispatcher.dispatched) == 3  # queued before the limit; the rest not lost:
    limited.app.state.context.submitter.rate = SubmissionRate(60, 60)  # time passes
    again = limited.post("/api/v1/webhooks/distribution", content=body, headers=secret)
    assert again.status_code == 202, again.text
    assert json.loads(again.text)["duplicates"] == 3 and len(dispatcher.dispatched) == 5


def test_a_full_push_queue_refuses_new_scans_until_it_drains(
    engine: Engine,
    dispatcher: InlineDispatcher,
    tmp_path,
    admin,  # type: ignore[no-untyped-def]
) -> None:
    dispatcher.hold = True  # nothing runs: scans stay queued
    settings = Settings(
        data_dir=tmp_path, webhook_secret=Secret(WEBHOOK_SECRET), scan_queue_limit=2
    )
    app = create_app(settings, engine=engine, dispatcher=dispatcher, engine_version=lambda _: "1")
    with TestClient(app) as client:
        answers = [
            client.post("/api/v1/scans", json={"image": f"127.0.0.1:5000/q/app:{n}"}, headers=admin)
            for n in range(3)
        ]
        assert [a.status_code for a in answers] == [202, 202, 429]
        assert "push queue is full (2 scans waiting)" in answers[2].json()["message"]
        dispatcher.hold = False
        dispatcher.job.run(answers[0].json()["id"])  # one finishes: room again
        again = client.post(
            "/api/v1/scans", json={"image": "127.0.0.1:5000/q/app:9"}, headers=admin
        )
        assert again.status_code == 202
