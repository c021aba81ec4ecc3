from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from service import dashboard
from service.errors import ManifestUnknownError, RegistryUnavailableError
from service.image.reference import parse_reference
from service.jobs.scan import JobResult, MaintenanceJobs, ScanJob
from service.store.admissions import AdmissionEvent, AdmissionLog
from service.store.catalogs import CatalogStore
from service.store.fleet_history import FleetHistory
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ClaimOutcome, ScanRequest, ScanStatus, ScanStore
from service.vulndb.ecosystems import matchable
from tests.unit.jobs.fakes import FakeSource, apply_tiered_bundle, digest_of, fake_match

REGISTRY = "127.0.0.1:5000"


def request(reference: str, revision: int = 0) -> ScanRequest:
    ref = parse_reference(reference)
    return ScanRequest(
        reference=reference,
        digest=ref.digest,
        platform=None,
        source="test",
        queue="push",
        engine="fake",
        engine_version="1.0",
        db_revision=revision,
    )


def test_a_scan_runs_once_and_records_image_findings_and_notification(
    engine, job: ScanJob, notifier
):
    apply_tiered_bundle(engine)
    scans = ScanStore(engine)
    scan, created = scans.submit(request(f"{REGISTRY}/apps/openssl-zlib:1"))
    assert created

    assert job.run(scan.id) is JobResult.DONE
    assert job.run(scan.id) is JobResult.SKIPPED

    done = scans.get(scan.id)
    assert done.status is ScanStatus.DONE and done.attempts == 1
    catalog = CatalogStore(engine).get(done.digest)
    expected = fake_match(catalog)
    assert done.findings == len(expected) > 0
    image = ImageStore(engine).get(done.digest)
    worst = {}
    for f in expected:
        worst[f.id] = max(worst.get(f.id, f.severity), f.severity, key=lambda s: s.rank)
    assert {k: v for k, v in image.severities.items() if v} == Counter(
        s.value for s in worst.values()
    )
    assert image.fixable == len({f.id for f in expected if f.fix_available})
    # A critical finding: the strict policy's blocking rule fires.
    assert image.policy_outcome == "block" and image.scan_state == "scanned"
    assert [event for event, _ in notifier.sent] == ["scan.completed", "policy.failed"]
    assert notifier.sent[0][1]["digest"] == done.digest
    assert [r["id"] for r in notifier.sent[1][1]["fired_rules"]] == ["critical", "high"]
    decision = PolicyStore(engine).decisions(done.digest)[-1]
    assert decision.policy == "strict" and decision.bundle == "default"


def test_the_bundle_mappings_pick_the_policy_and_a_pass_sends_no_policy_event(
    engine, job: ScanJob, notifier
):
    apply_tiered_bundle(engine)
    scans = ScanStore(engine)
    lenient, _ = scans.submit(request(f"{REGISTRY}/apps/openssl:1"))
    clean, _ = scans.submit(request(f"{REGISTRY}/apps/bash:1"))
    job.run(lenient.id)
    job.run(clean.id)
    images = ImageStore(engine)
    warned = images.get(scans.get(lenient.id).digest or "")
    passed = images.get(scans.get(clean.id).digest or "")
    assert (warned.policy_outcome, passed.policy_outcome) == ("warn", "pass")
    assert PolicyStore(engine).decisions(warned.digest)[-1].policy == "lenient"
    assert [event for event, _ in notifier.sent] == ["scan.completed", "scan.completed"]


def test_a_failed_scan_of_a_known_digest_is_decided_as_failed(
    engine, job: ScanJob, source: FakeSource, notifier
):
    apply_tiered_bundle(engine)
    scans = ScanStore(engine)
    digest = digest_of("vanished")
    source.failures["apps/vanished"] = [ManifestUnknownError("manifest unknown")]
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/vanished@{digest}"))
    assert job.run(scan.id) is JobResult.FAILED

    image = ImageStore(engine).get(digest)
    assert (image.scan_state, image.policy_outcome) == ("failed", "block")
    decision = PolicyStore(engine).decisions(digest)[-1]
    assert [r.rule_id for r in decision.fired] == ["scanned"]
    assert [event for event, _ in notifier.sent] == ["scan.failed", "policy.failed"]


def test_same_digest_with_same_engine_and_revision_is_not_scanned_again(engine, job: ScanJob):
    scans = ScanStore(engine)
    reference = f"{REGISTRY}/apps/zlib@{digest_of('zlib')}"
    first, created = scans.submit(request(reference))
    again, created_again = scans.submit(request(reference))
    assert created and not created_again and again.id == first.id
    job.run(first.id)
    after, created_after = scans.submit(request(reference))
    assert not created_after and after.id == first.id
    newer_db, created_newer = scans.submit(request(reference, revision=1))
    assert created_newer and newer_db.id != first.id


def test_a_tag_is_scanned_again_once_its_scan_finished(engine, job: ScanJob):
    scans = ScanStore(engine)
    first, _ = scans.submit(request(f"{REGISTRY}/apps/bash:latest"))
    queued_again, created = scans.submit(request(f"{REGISTRY}/apps/bash:latest"))
    assert not created and queued_again.id == first.id
    job.run(first.id)
    second, created = scans.submit(request(f"{REGISTRY}/apps/bash:latest"))
    assert created and second.id != first.id


def test_claim_guard_lets_one_attempt_win_and_takes_over_after_the_lease(engine):
    scans = ScanStore(engine)
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/bash:1"))
    first = scans.claim(scan.id, lease_seconds=30)
    assert first.outcome is ClaimOutcome.CLAIMED
    assert scans.claim(scan.id, lease_seconds=30).outcome is ClaimOutcome.BUSY

    later = datetime.now(UTC) + timedelta(seconds=31)
    second = scans.claim(scan.id, lease_seconds=30, now=later)
    assert second.outcome is ClaimOutcome.CLAIMED and second.attempt == first.attempt + 1
    # The attempt that lost its claim cannot record a result.
    assert not scans.complete(scan.id, first.attempt, digest="sha256:x", timings={}, findings=0)
    assert scans.complete(scan.id, second.attempt, digest="sha256:x", timings={}, findings=0)
    assert scans.claim(scan.id, lease_seconds=30).outcome is ClaimOutcome.FINISHED


def test_transient_errors_requeue_then_fail_with_the_reason_on_the_last_attempt(
    engine, job: ScanJob, source: FakeSource
):
    scans = ScanStore(engine)
    unavailable = RegistryUnavailableError("registry 127.0.0.1:5000 timed out")
    source.failures["apps/zlib"] = [unavailable, unavailable]
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/zlib:1"))

    assert job.run(scan.id) is JobResult.RETRY
    assert scans.get(scan.id).status is ScanStatus.QUEUED
    assert job.run(scan.id, final_attempt=True) is JobResult.FAILED
    failed = scans.get(scan.id)
    assert failed.status is ScanStatus.FAILED and "timed out" in (failed.error or "")


def test_permanent_error_fails_and_releases_the_key(
    engine, job: ScanJob, source: FakeSource, notifier
):
    scans = ScanStore(engine)
    source.failures["apps/gone"] = [ManifestUnknownError("manifest unknown: apps/gone:1")]
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/gone:1"))
    assert job.run(scan.id) is JobResult.FAILED
    assert "manifest unknown" in (scans.get(scan.id).error or "")
    assert notifier.sent[-1][0] == "scan.failed"
    retry, created = scans.submit(request(f"{REGISTRY}/apps/gone:1"))
    assert created and retry.id != scan.id


def test_recover_dispatches_stranded_scans_only(engine, maintenance, dispatcher):
    scans = ScanStore(engine)
    old = datetime.now(UTC) - timedelta(minutes=5)
    stranded, _ = scans.submit(request(f"{REGISTRY}/apps/a:1"), now=old)
    fresh, _ = scans.submit(request(f"{REGISTRY}/apps/b:1"))
    abandoned, _ = scans.submit(request(f"{REGISTRY}/apps/c:1"), now=old)
    scans.claim(abandoned.id, lease_seconds=30, now=old)

    assert maintenance.recover() == 2
    assert sorted(i for i, _ in dispatcher.dispatched) == sorted([stranded.id, abandoned.id])
    assert fresh.id not in {i for i, _ in dispatcher.dispatched}


def test_maintenance_records_the_fleet_of_the_day_and_the_trend_carries_it(
    engine, job: ScanJob, maintenance: MaintenanceJobs
):
    scans, images, fleet = ScanStore(engine), ImageStore(engine), FleetHistory(engine)
    today = datetime.now(UTC)
    recorded_on = today - timedelta(days=3)
    for repo in ("openssl-zlib", "bash"):
        scan, _ = scans.submit(request(f"{REGISTRY}/apps/{repo}:1"))
        assert job.run(scan.id) is JobResult.DONE
    maintenance.periodic(now=recorded_on)
    then = images.totals().findings
    assert fleet.findings_since(recorded_on.date()) == {recorded_on.date(): then}
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/openssl:1"))  # more findings today
    assert job.run(scan.id) is JobResult.DONE

    days = dashboard.trends(scans, images, PolicyStore(engine), fleet, 5, today=today.date())
    assert [d.findings for d in days] == [
        dict.fromkeys(then, 0),  # before anything was recorded
        then,  # recorded that day
        then,  # nothing recorded: the day before's
        then,
        images.totals().findings,  # today: the live totals
    ]
    assert days[-1].findings != then


def test_vulnerability_spread_follows_rescans(engine, job: ScanJob):
    scans = ScanStore(engine)
    images = ImageStore(engine)
    for repo in ("openssl-zlib", "openssl", "bash"):
        scan, _ = scans.submit(request(f"{REGISTRY}/apps/{repo}:1"))
        job.run(scan.id)
    spread = {v.vuln_id: v.affected_images for v in images.top_vulnerabilities(10)}
    assert spread == {
        "CVE-2024-0001": 2,
        "CVE-2024-0002": 2,
        "CVE-2024-0003": 1,
        "CVE-2024-0004": 1,
    }
    top = images.top_vulnerabilities(1)[0]
    assert top.affected_images == 2

    # The openssl-zlib image loses its findings (re-recorded with none): counts follow.
    digest = scans.get(scan.id).digest
    openssl_zlib = next(
        i for i in images.page(_all(), limit=10, offset=0)[0] if "openssl-zlib" in i.reference
    )
    images.record(_info(images, openssl_zlib.digest), [], scan_id=None)
    spread = {v.vuln_id: v.affected_images for v in images.top_vulnerabilities(10)}
    assert spread == {"CVE-2024-0001": 1, "CVE-2024-0002": 1, "CVE-2024-0004": 1}
    assert digest is not None


def _all():
    from service.store.images import ImageFilter

    return ImageFilter()


def _info(images: ImageStore, digest: str):
    from service.store.images import ImageSubjectInfo

    image = images.get(digest)
    return ImageSubjectInfo(
        digest=image.digest,
        reference=image.reference,
        registry=image.registry,
        repository=image.repository,
        platform=image.platform,
        packages=image.packages,
    )


def test_reevaluation_decides_again_with_the_changed_findings(engine, job: ScanJob, notifier):
    apply_tiered_bundle(engine)
    scans = ScanStore(engine)
    scan, _ = scans.submit(request(f"{REGISTRY}/apps/openssl-zlib:1"))
    job.run(scan.id)
    digest = scans.get(scan.id).digest or ""
    images = ImageStore(engine)
    assert images.get(digest).policy_outcome == "block"
    before = len(PolicyStore(engine).decisions(digest))

    # The fake advisories are not in the (empty) vulnerability database: re-matching the
    # stored catalog finds nothing, so nothing blocks any more. Stored again (as a rescan
    # does before it records findings), the catalog counts as unmatched and is re-matched.
    catalogs = CatalogStore(engine)
    stored = catalogs.get(digest)
    catalogs.save(stored, matchable(stored))
    rematched = job.pipeline.rematch().reevaluation
    assert rematched is not None and len(rematched.diffs) == 1
    image = images.get(digest)
    assert sum(image.severities.values()) == 0
    assert image.policy_outcome == "pass"
    decisions = PolicyStore(engine).decisions(digest)
    assert len(decisions) == before + 1 and decisions[-1].outcome.value == "pass"
    resolved = "CVE-2024-0001, CVE-2024-0002, CVE-2024-0003"
    assert decisions[-1].trigger == f"advisories resolved {resolved}"
    assert image.config is not None and image.platform == "linux/amd64"


def test_maintenance_forgets_admission_events_older_than_the_log_keeps(
    engine, maintenance: MaintenanceJobs
):
    now = datetime.now(UTC)
    log = AdmissionLog(engine)

    def event(age: timedelta, name: str) -> AdmissionEvent:
        return AdmissionEvent(now - age, "u", "CREATE", "ns", "Pod", name, "i", None, "pass", True)

    log.record([event(timedelta(days=91), "old"), event(timedelta(days=89), "kept")])
    maintenance.periodic(now=now)  # the fixture keeps 90 days
    assert [e.name for e in log.recent(10)] == ["kept"]
