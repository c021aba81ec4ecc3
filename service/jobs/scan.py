"""The work itself, shared by Celery tasks and the embedded executor.

Jobs take ids, call the core (:class:`service.scanning.Orchestrator`), end every
scan in a policy decision (:class:`service.jobs.decision.ImageDecider`) and persist.
A scan is claimed with a lease that a heartbeat thread extends while it runs; a
worker that dies stops extending it, and the scan is taken over once it expires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from policies.decision import Decision, Outcome
from service.errors import InvalidReferenceError, TollgateError
from service.image.model import ImageReference, PinnedImage, Platform
from service.image.reference import parse_reference
from service.jobs.decision import ImageDecider
from service.jobs.dispatch import Dispatcher
from service.jobs.pull_auth import PullAuthorization
from service.notify.webhooks import (
    POLICY_FAILED,
    SCAN_COMPLETED,
    SCAN_FAILED,
    VULNERABILITY_NEW,
    Notifier,
)
from service.scanning import Orchestrator
from service.store.catalogs import CatalogStore, FindingDiff
from service.store.images import ImageStore, ImageSubjectInfo
from service.store.scans import ClaimOutcome, ScanStore
from service.vulndb.model import Finding
from service.vulndb.reevaluate import reevaluate
from service.vulndb.store import VulnStore

logger = logging.getLogger(__name__)

# The orchestrator for one scan, pulling with the request's credentials when it carried any.
OrchestratorFactory = Callable[[PullAuthorization | None], AbstractContextManager[Orchestrator]]


def backoff(base: float, retries: int) -> float:
    """Seconds before retry number ``retries + 1``: doubling from ``base``, at most a minute."""
    return float(min(base * 2**retries, 60.0))


class JobResult(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # already finished by another attempt
    BUSY = "busy"  # another live attempt holds the claim: try again after its lease
    RETRY = "retry"  # transient error: the scan went back to the queue


def parse_platform(text: str | None) -> Platform | None:
    if not text:
        return None
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise InvalidReferenceError(
            f"invalid platform {text!r}", hint="write os/architecture[/variant], e.g. linux/arm64"
        )
    return Platform(
        os=parts[0], architecture=parts[1], variant=parts[2] if len(parts) == 3 else None
    )


@dataclass
class ScanJob:
    scans: ScanStore
    images: ImageStore
    vulns: VulnStore
    orchestrator: OrchestratorFactory
    notifier: Notifier
    lease_seconds: float
    decider: ImageDecider

    def run(
        self,
        scan_id: str,
        *,
        final_attempt: bool = False,
        pull_auth: PullAuthorization | None = None,
    ) -> JobResult:
        claim = self.scans.claim(scan_id, self.lease_seconds)
        if claim.outcome is ClaimOutcome.FINISHED:
            return JobResult.SKIPPED
        if claim.outcome is ClaimOutcome.BUSY:
            return JobResult.BUSY
        attempt = claim.attempt
        scan = self.scans.get(scan_id)
        logger.info("scan %s attempt %d: %s", scan_id, attempt, scan.reference)
        try:
            with self._heartbeat(scan_id, attempt):
                ref = parse_reference(scan.reference)
                with self.orchestrator(pull_auth) as orchestrator:
                    outcome = orchestrator.scan(
                        ref, platform=parse_platform(scan.platform), engine=scan.engine
                    )
                digest = outcome.image.digest
                # The orchestrator's sink stored the catalog and its findings.
                verdict = self.decider.scanned(outcome, self.vulns.revision())
                policy = verdict.decision.outcome.value
                self.images.record(
                    _subject(
                        ref,
                        outcome.image.display_name,
                        digest,
                        str(outcome.image.platform),
                        image=outcome.image,
                        packages=len(outcome.catalog.packages),
                    ),
                    outcome.findings,
                    scan_id=scan_id,
                    policy_outcome=policy,
                    signatures=verdict.signatures,
                )
        except TollgateError as error:
            return self._failed(scan_id, attempt, error, final_attempt=final_attempt)
        except Exception as error:
            logger.exception("scan %s failed unexpectedly", scan_id)
            reason = f"internal error: {type(error).__name__}: {error}"
            if self.scans.fail(scan_id, attempt, reason):
                self._failure_decided(scan_id, reason)
            return JobResult.FAILED
        timings = outcome.timings.as_dict()
        if not self.scans.complete(
            scan_id, attempt, digest=digest, timings=timings, findings=len(outcome.findings)
        ):
            return JobResult.SKIPPED
        self._announce(
            scan_id, outcome.image.display_name, digest, outcome.findings, verdict.decision
        )
        return JobResult.DONE

    def refuse(self, scan_id: str, error: TollgateError) -> JobResult:
        """End the scan with ``error`` before it starts (e.g. its credentials expired)."""
        claim = self.scans.claim(scan_id, self.lease_seconds)
        if claim.outcome is ClaimOutcome.FINISHED:
            return JobResult.SKIPPED
        if claim.outcome is ClaimOutcome.BUSY:
            return JobResult.BUSY
        return self._failed(scan_id, claim.attempt, error, final_attempt=True)

    def _failed(
        self, scan_id: str, attempt: int, error: TollgateError, *, final_attempt: bool
    ) -> JobResult:
        if error.transient and not final_attempt:
            logger.warning(
                "scan %s attempt %d: transient error, will retry: %s", scan_id, attempt, error
            )
            self.scans.release(scan_id, attempt, str(error))
            return JobResult.RETRY
        logger.warning("scan %s failed: %s", scan_id, error)
        if self.scans.fail(scan_id, attempt, str(error)):
            self._failure_decided(scan_id, str(error))
        return JobResult.FAILED

    def _failure_decided(self, scan_id: str, reason: str) -> None:
        """Announce a failed scan; decide with ``scan: failed`` when its digest is known.

        A digest some earlier scan succeeded on keeps that scan's decision.
        """
        scan = self.scans.get(scan_id)
        data: dict[str, object] = {
            "scan_id": scan_id,
            "image": scan.reference,
            "digest": scan.digest,
            "error": reason,
        }
        self.notifier.send(SCAN_FAILED, data)
        if scan.digest is None or self.images.scanned(scan.digest):
            return
        try:
            ref = parse_reference(scan.reference)
            decision = self.decider.failed(ref, scan.reference, scan.digest)
            self.images.record_failure(
                _subject(ref, scan.reference, scan.digest, scan.platform or "", image=None),
                scan_id=scan_id,
                policy_outcome=decision.outcome.value,
            )
        except TollgateError as error:
            logger.warning("scan %s: no decision on the failed scan: %s", scan_id, error)
            return
        if decision.outcome is Outcome.BLOCK:
            self.notifier.send(POLICY_FAILED, {**data, **_decision_data(decision)})

    def _announce(
        self, scan_id: str, reference: str, digest: str, findings: list[Finding], decision: Decision
    ) -> None:
        summary = self.images.get(digest)
        data = {
            "scan_id": scan_id,
            "image": reference,
            "digest": digest,
            "findings": len(findings),
            "severities": summary.severities,
            **_decision_data(decision),
        }
        self.notifier.send(SCAN_COMPLETED, data)
        if decision.outcome is Outcome.BLOCK:
            self.notifier.send(POLICY_FAILED, data)

    @contextmanager
    def _heartbeat(self, scan_id: str, attempt: int) -> Iterator[None]:
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.lease_seconds / 3):
                try:
                    if not self.scans.heartbeat(scan_id, attempt, self.lease_seconds):
                        return
                except TollgateError as error:
                    logger.warning("scan %s heartbeat failed: %s", scan_id, error)

        thread = threading.Thread(target=beat, name=f"heartbeat-{scan_id[:8]}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _subject(
    ref: ImageReference,
    reference: str,
    digest: str,
    platform: str,
    *,
    image: PinnedImage | None,
    packages: int = 0,
) -> ImageSubjectInfo:
    return ImageSubjectInfo(
        digest=digest,
        reference=reference,
        registry=ref.registry or "",
        repository=ref.repository or "",
        platform=platform,
        packages=packages,
        config=image.config if image else None,
        size=image.size if image else None,
    )


def _decision_data(decision: Decision) -> dict[str, object]:
    return {
        "policy": decision.outcome.value,
        "bundle": decision.bundle,
        "bundle_version": decision.bundle_version,
        "fired_rules": [
            {"id": r.rule_id, "action": r.action.value, "message": r.message}
            for r in decision.fired
        ],
    }


@dataclass
class MaintenanceJobs:
    """Periodic work scheduled by Celery beat (or the embedded executor's timer)."""

    scans: ScanStore
    images: ImageStore
    catalogs: CatalogStore
    vulns: VulnStore
    notifier: Notifier
    dispatcher: Dispatcher
    stranded_after: timedelta
    decider: ImageDecider

    def recover(self, now: datetime | None = None) -> int:
        """Dispatch again every scan left queued or whose worker stopped renewing its lease."""
        now = now or datetime.now(UTC)
        stranded = self.scans.stranded(now - self.stranded_after, now)
        for scan in stranded:
            self.dispatcher.dispatch(scan.id, scan.queue)
        if stranded:
            logger.info("re-dispatched %d stranded scans", len(stranded))
        return len(stranded)

    def reevaluate(self) -> int:
        """Match stored catalogs again; decide again on changed images, announce new findings
        and images the new findings block."""
        result = reevaluate(self.catalogs, self.vulns)
        for diff in result.diffs:
            self._refresh(diff)
        return len(result.diffs)

    def _refresh(self, diff: FindingDiff) -> None:
        try:
            image = self.images.get(diff.digest)
        except TollgateError:
            return  # catalogued by the CLI, never scanned through the service
        findings = self.catalogs.findings(diff.digest)
        decision = self.decider.reevaluated(image, self.catalogs.get(diff.digest), findings)
        self.images.record(
            image.subject,
            findings,
            scan_id=image.last_scan_id,
            policy_outcome=decision.outcome.value,
            signatures=image.signatures,
        )
        if decision.outcome is Outcome.BLOCK and image.policy_outcome != Outcome.BLOCK.value:
            self.notifier.send(
                POLICY_FAILED,
                {"image": image.reference, "digest": image.digest, **_decision_data(decision)},
            )
        if diff.new:
            self.notifier.send(
                VULNERABILITY_NEW,
                {
                    "image": image.reference,
                    "digest": image.digest,
                    "vulnerabilities": sorted({f.id for f in diff.new}),
                },
            )
