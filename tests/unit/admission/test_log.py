"""The admission log's events (one per distinct image of a review) and their recorder
(batches written off the webhook's path, kept while the database fails)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from service.admission.controller import AdmissionResult, ImageVerdict, State
from service.admission.log import AdmissionRecorder, admission_events
from service.admission.review import AdmissionRequest
from service.admission.workloads import ImageUse
from service.store.admissions import AdmissionLog
from service.store.database import make_engine
from tests.unit.admission.reviews import pod_spec, review, workload

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _request(name: str = "app") -> AdmissionRequest:
    body = review(workload("Pod", pod_spec("reg/a:1", "reg/a:1", "reg/b:1"), name=name))
    return AdmissionRequest.model_validate(body["request"])


def _result() -> AdmissionResult:
    verdicts = (
        ImageVerdict(
            ImageUse("reg/a:1", "/spec/containers/0/image", "c0"), State.BLOCK, "sha256:a"
        ),
        ImageVerdict(
            ImageUse("reg/a:1", "/spec/containers/1/image", "c1"), State.BLOCK, "sha256:a"
        ),
        ImageVerdict(
            ImageUse("reg/b:1", "/spec/containers/2/image", "c2"),
            State.UNKNOWN,
            None,
            reason="it has not been scanned",
        ),
    )
    return AdmissionResult(False, "blocked", (), verdicts)


def test_one_event_per_distinct_image_with_its_workload() -> None:
    events = admission_events(_request(), _result(), NOW)
    assert [(e.image, e.digest, e.state, e.allowed) for e in events] == [
        ("reg/a:1", "sha256:a", "block", False),
        ("reg/b:1", None, "unknown", False),
    ]
    assert {(e.namespace, e.kind, e.name, e.operation) for e in events} == {
        ("team-a", "Pod", "app", "CREATE")
    }
    assert events[1].reason == "it has not been scanned"


def test_the_recorder_writes_in_batches_and_keeps_what_the_database_refused(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    unmigrated = AdmissionLog(make_engine(url, migrate=False))  # no table: writes fail
    recorder = AdmissionRecorder(unmigrated, interval=3600, limit=3)
    for name in ("one", "two"):
        recorder.add(admission_events(_request(name), _result(), NOW))
    recorder.flush()  # refused: kept for the next batch, the oldest dropped beyond the limit

    log = AdmissionLog(make_engine(url))  # migrated: the table is there now
    assert log.recent(10) == []  # nothing written on the caller's path
    recorder.flush()
    assert [e.name for e in log.recent(10)] == ["two", "two", "one"]
