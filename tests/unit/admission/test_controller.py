from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.admission.controller import AdmissionController, AdmissionSettings, State
from service.admission.patch import pin_patch
from service.admission.review import AdmissionReview
from service.store.database import make_engine
from service.vulndb.model import Severity
from tests.unit.admission.helpers import (
    FakeResolver,
    FakeScans,
    apply_bundle,
    digest_of,
    store_scan,
    verdicts,
)
from tests.unit.admission.reviews import KINDS, pod_spec, review, workload

REG = "127.0.0.1:5000"
CLEAN, HIGH, CRITICAL, NEW = (f"{REG}/apps/{n}:1" for n in ("clean", "high", "critical", "new"))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    apply_bundle(engine)
    for ref, severities in ((CLEAN, []), (HIGH, [Severity.HIGH]), (CRITICAL, [Severity.CRITICAL])):
        store_scan(engine, ref, digest_of(ref), severities)
    return engine


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver(tags={ref: digest_of(ref) for ref in (CLEAN, HIGH, CRITICAL, NEW)})


def controller(engine, resolver, scans=None, **settings) -> AdmissionController:
    return AdmissionController(
        resolver,
        verdicts(engine),
        scans or FakeScans(),
        AdmissionSettings(**settings),
        clock=Clock(),
        sleep=lambda _: None,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.05
        return self.now


def decide(ctrl: AdmissionController, kind: str, *images: str, namespace: str = "team-a"):
    body = review(workload(kind, pod_spec(*images)), namespace=namespace)
    return ctrl.review(AdmissionReview.model_validate(body).request)


@pytest.mark.parametrize("kind", KINDS)
def test_pass_warn_and_block_for_every_kind(engine, resolver, kind):
    ctrl = controller(engine, resolver)
    passed = decide(ctrl, kind, CLEAN)
    assert passed.allowed and passed.message is None and passed.warnings == ()

    warned = decide(ctrl, kind, CLEAN, HIGH)
    assert warned.allowed and len(warned.warnings) == 1
    assert HIGH in warned.warnings[0] and "rule high" in warned.warnings[0]

    blocked = decide(ctrl, kind, HIGH, CRITICAL)
    assert not blocked.allowed
    assert CRITICAL in blocked.message and "rule no-critical" in blocked.message
    assert "policy admission v1/gate" in blocked.message
    assert HIGH not in blocked.message and any(HIGH in w for w in blocked.warnings)


def test_a_recorded_decision_is_reused_until_the_bundle_changes(engine, resolver):
    ctrl = controller(engine, resolver)
    first = decide(ctrl, "Pod", HIGH).images[0].decision
    again = decide(ctrl, "Pod", HIGH).images[0].decision
    assert again == first  # read back, not evaluated again
    apply_bundle(engine)  # version 2
    newer = decide(ctrl, "Pod", HIGH).images[0].decision
    assert newer.bundle_version == 2 and newer.evaluated_at > first.evaluated_at


def test_warn_mode_and_exempt_namespaces_never_deny(engine, resolver):
    warn = decide(controller(engine, resolver, mode="warn"), "Pod", CRITICAL, NEW)
    assert warn.allowed and warn.message is None
    assert any("rule no-critical" in w for w in warn.warnings)
    assert any(NEW in w and "unknown" in w for w in warn.warnings)
    exempt = controller(engine, resolver, exempt_namespaces=frozenset({"kube-system"}))
    assert decide(exempt, "Pod", CRITICAL, namespace="kube-system").allowed


def test_unknown_images_per_setting(engine, resolver):
    blocked = decide(controller(engine, resolver), "Pod", NEW)
    assert not blocked.allowed and "unknown to Tollgate" in blocked.message
    assert blocked.images[0].state is State.UNKNOWN

    scans = FakeScans(finishes=False)
    queued = decide(
        controller(engine, resolver, scans, unknown_image="allow-and-queue"), "Pod", NEW
    )
    assert queued.allowed and scans.requested == [digest_of(NEW)]
    assert "scan scan-1 queued" in queued.warnings[0]

    def scanned() -> None:
        store_scan(engine, NEW, digest_of(NEW), [Severity.CRITICAL])

    sync = FakeScans(on_finish=scanned)
    result = decide(controller(engine, resolver, sync, unknown_image="scan"), "Pod", NEW)
    assert not result.allowed and "rule no-critical" in result.message


def test_a_scan_that_outlasts_the_budget_fails_closed(engine, resolver):
    slow = FakeScans(finishes=False)
    result = decide(
        controller(engine, resolver, slow, unknown_image="scan", scan_budget=1.0), "Pod", NEW
    )
    assert not result.allowed and "did not finish within 1s" in result.message
    assert "fail-closed" in result.message


def test_cannot_decide_denies_unless_fail_open(engine, resolver):
    resolver.down = True
    closed = decide(controller(engine, resolver), "Deployment", CLEAN)
    assert not closed.allowed
    assert "Tollgate cannot decide" in closed.message and "unavailable" in closed.message
    opened = decide(controller(engine, resolver, fail_open=True), "Deployment", CLEAN)
    assert opened.allowed and "fail-open" in opened.warnings[0]


def test_database_down_fails_closed(tmp_path, resolver):
    broken = make_engine(f"sqlite:///{tmp_path / 'gone.db'}")
    (tmp_path / "gone.db").unlink()
    (tmp_path / "gone.db").mkdir()  # the path is no longer a database file
    broken.dispose()
    result = decide(controller(broken, resolver), "Pod", CLEAN)
    assert not result.allowed and "cannot decide" in result.message


def test_pinned_digests_need_no_registry_and_tags_are_pinned_by_the_patch(engine, resolver):
    ctrl = controller(engine, resolver)
    pinned = f"{REG}/apps/clean@{digest_of(CLEAN)}"
    result = decide(ctrl, "StatefulSet", pinned)
    assert result.allowed and resolver.calls == 0
    assert pin_patch(result) == []

    result = decide(ctrl, "CronJob", CLEAN, HIGH)
    assert pin_patch(result) == [
        {
            "op": "replace",
            "path": "/spec/jobTemplate/spec/template/spec/containers/0/image",
            "value": f"{CLEAN}@{digest_of(CLEAN)}",
        },
        {
            "op": "replace",
            "path": "/spec/jobTemplate/spec/template/spec/containers/1/image",
            "value": f"{HIGH}@{digest_of(HIGH)}",
        },
    ]
    assert pin_patch(decide(ctrl, "Pod", CRITICAL)) == []


def test_an_index_digest_is_judged_by_its_platform_image(engine, resolver):
    index = digest_of("index of clean")
    resolver.indexes[index] = digest_of(CLEAN)
    result = decide(controller(engine, resolver), "Pod", f"{REG}/apps/clean@{index}")
    assert result.allowed and result.images[0].state is State.PASS


def test_a_missing_tag_is_blocked_with_a_reason(engine, resolver):
    result = decide(controller(engine, resolver), "Pod", f"{REG}/apps/clean:nope")
    assert not result.allowed and "does not exist" in result.message


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("oci-dir:5000/team/app:1.0", "oci-dir image, not one in a registry"),
        ("docker-archive:/tmp/app.tar", "docker-archive image"),
        ("Not An Image!", "Not An Image!"),
    ],
)
def test_file_transport_and_unparseable_images_are_denied_with_the_reason(
    engine, resolver, image, reason
):
    ctrl = controller(engine, resolver)
    request = AdmissionReview.model_validate(review(workload("Pod", pod_spec(image)))).request
    assert ctrl.review_cached(request) is None  # no answer from caches, and no crash
    denied = ctrl.review(request)
    assert not denied.allowed
    assert reason in denied.message and "fail-closed" in denied.message

    admitted = decide(controller(engine, resolver, fail_open=True), "Pod", image)
    assert admitted.allowed and any("fail-open" in w for w in admitted.warnings)


def test_a_workload_naming_more_images_than_the_cap_is_denied_even_fail_open(engine, resolver):
    many = [f"{REG}/apps/clean:{n}" for n in range(4)]
    ctrl = controller(engine, resolver, max_images=3, fail_open=True)
    denied = decide(ctrl, "Pod", *many)
    assert not denied.allowed
    assert "names 4 images" in denied.message and "TOLLGATE_ADMISSION_MAX_IMAGES" in denied.message
    assert resolver.calls == 0
    assert decide(ctrl, "Pod", CLEAN, CLEAN, CLEAN, CLEAN).allowed  # distinct images count


class MeetingResolver(FakeResolver):
    """Resolves only once ``parties`` lookups are in progress at the same time (a barrier):
    a review that resolved its images one after the other would never get an answer."""

    def __init__(self, tags: dict[str, str], parties: int) -> None:
        super().__init__(tags=tags)
        self.barrier = threading.Barrier(parties, timeout=30)

    def digest(self, ref):  # type: ignore[no-untyped-def]
        self.barrier.wait()
        return super().digest(ref)


def test_the_images_of_one_review_are_resolved_side_by_side(engine):
    tags = {ref: digest_of(ref) for ref in (CLEAN, HIGH, CRITICAL)}
    ctrl = controller(engine, MeetingResolver(tags, parties=3))
    result = decide(ctrl, "Pod", CLEAN, HIGH, CRITICAL)
    assert [v.state for v in result.images] == [State.PASS, State.WARN, State.BLOCK]
    assert not result.allowed
