"""The admission hot path: verdicts, tags and tokens from memory, and what invalidates them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.engine import Engine

from policies.decision import Decision
from service.admission.controller import AdmissionController, AdmissionSettings
from service.admission.review import AdmissionReview
from service.admission.stored import StoredVerdicts
from service.admission.verdict_cache import VerdictCache
from service.auth.tokens import Scope, TokenAuthority
from service.errors import AuthError
from service.gate import PolicyGate
from service.image.reference import parse_reference
from service.store.database import make_engine, session_scope
from service.store.policies import PolicyStore
from service.store.tokens import TokenRow, TokenStore
from service.vulndb.model import Severity
from tests.unit.admission.helpers import (
    FakeResolver,
    FakeScans,
    apply_bundle,
    digest_of,
    store_scan,
)
from tests.unit.admission.reviews import pod_spec, review, workload
from tests.unit.jobs.conftest import stored_evaluation

HIGH = f"127.0.0.1:5000/apps/high@{digest_of('high')}"
CLEAN = f"127.0.0.1:5000/apps/clean@{digest_of('clean')}"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    apply_bundle(engine)
    store_scan(engine, HIGH, digest_of("high"), [Severity.HIGH])
    store_scan(engine, CLEAN, digest_of("clean"), [])
    return engine


def cached_verdicts(engine: Engine, clock: Clock) -> StoredVerdicts:
    return StoredVerdicts(
        PolicyGate(PolicyStore(engine)),
        PolicyStore(engine),
        stored_evaluation(engine, "admission"),
        bundle="admission",
        cache=VerdictCache("admission", ttl=10, refresh=1),
        clock=clock,
    )


def record_again(engine: Engine, image: str, digest: str) -> Decision:
    """What the worker does at the end of a scan, in another process."""
    decision = stored_evaluation(engine, "admission")(digest, parse_reference(image))
    assert decision is not None
    return decision


def test_a_verdict_is_served_from_memory_until_a_new_decision_or_bundle(engine):
    clock = Clock()
    stored = cached_verdicts(engine, clock)
    digest, ref = digest_of("high"), parse_reference(HIGH)
    assert stored.cached(digest) is None
    first = stored.decision(digest, ref)
    assert first is not None and stored.cached(digest) == first

    newer = record_again(engine, HIGH, digest)
    assert stored.cached(digest) == first  # noticed at the next refresh, not before
    clock.now += 1
    assert stored.cached(digest) is None  # a refresh is due: memory is not trusted
    assert stored.decision(digest, ref) == newer
    assert stored.cached(digest) == newer

    apply_bundle(engine)  # version 2: every cached verdict is stale
    clock.now += 1
    again = stored.decision(digest, ref)
    assert again is not None and again.bundle_version == 2
    clock.now += 10.5  # the TTL bounds staleness even without a change notice
    assert stored.cached(digest) is None


def test_a_decision_read_before_a_refresh_is_not_cached():
    cache = VerdictCache("admission", ttl=10, refresh=1)
    cache.refreshed(version=1, high_water=5, decided=(), now=0)
    seen = cache.high_water
    cache.refreshed(version=1, high_water=6, decided=("sha256:a",), now=0.5)
    decision = Decision(
        image="r/a",
        digest="sha256:a",
        bundle="admission",
        bundle_version=1,
        policy="gate",
        outcome="pass",
        evaluated_at=datetime.now(UTC),
        rule_results=(),
    )
    cache.put(decision, 0.5, seen=seen)
    assert cache.get("sha256:a", 0.6) is None
    cache.put(decision, 0.6, seen=cache.high_water)
    assert cache.get("sha256:a", 0.7) == decision
    cache.put(decision.model_copy(update={"digest": "sha256:b", "bundle_version": 0}), 0.7, seen=6)
    assert cache.get("sha256:b", 0.7) is None  # made with another version


def test_review_cached_answers_like_review_once_everything_is_in_memory(engine):
    clock = Clock()
    controller = AdmissionController(
        FakeResolver(), cached_verdicts(engine, clock), FakeScans(), AdmissionSettings()
    )
    body = review(workload("Deployment", pod_spec(HIGH, CLEAN)))
    request = AdmissionReview.model_validate(body).request
    assert controller.review_cached(request) is None  # nothing cached yet
    full = controller.review(request)
    cached = controller.review_cached(request)
    assert cached == full and cached.allowed and any(HIGH in w for w in cached.warnings)
    tagged = AdmissionReview.model_validate(
        review(workload("Pod", pod_spec("127.0.0.1:5000/apps/high:1")))
    ).request
    assert controller.review_cached(tagged) is None  # the tag needs the registry


def test_a_token_is_verified_from_memory_and_revocation_applies_within_the_ttl(engine):
    clock = Clock()
    authority = TokenAuthority(TokenStore(engine), None, cache_ttl=5, clock=clock)
    issued = authority.issue(frozenset({Scope.WEBHOOK}), "hook").secret
    assert not authority.verified_recently(issued)
    assert authority.authenticate(issued).allows(Scope.WEBHOOK)
    assert authority.verified_recently(issued)
    with session_scope(engine) as session:
        session.exec(update(TokenRow).values(revoked=True))
    assert authority.authenticate(issued).name == "hook"  # cached: still valid for the TTL
    clock.now += 5
    assert not authority.verified_recently(issued)
    with pytest.raises(AuthError, match="invalid or revoked"):
        authority.authenticate(issued)
    with pytest.raises(AuthError):
        authority.authenticate("tg_" + "x" * 43)  # never cached
