"""A queued scan's lease and retries, shared by Celery tasks and the embedded executor.

A job takes a scan id, claims the scan with a lease that a heartbeat thread extends while
:meth:`service.pipeline.Pipeline.scan` runs, and settles the scan row: done, failed, or
released for a retry after a transient error. A worker that dies stops extending its
lease, and the scan is taken over once it expires.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from service.errors import TollgateError
from service.image.manifest import parse_platform
from service.image.reference import parse_reference
from service.jobs.dispatch import Dispatcher
from service.pipeline import Pipeline
from service.registry.pull_auth import PullAuthorization
from service.store.admissions import AdmissionLog
from service.store.fleet_history import FleetHistory
from service.store.images import ImageStore
from service.store.scans import ClaimOutcome, ScanStore

logger = logging.getLogger(__name__)


def backoff(base: float, retries: int) -> float:
    """Seconds before retry number ``retries + 1``: doubling from ``base``, at most a minute."""
    return float(min(base * 2**retries, 60.0))


class JobResult(StrEnum):
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # already finished by another attempt
    BUSY = "busy"  # another live attempt holds the claim: try again after its lease
    RETRY = "retry"  # transient error: the scan went back to the queue


@dataclass
class ScanJob:
    scans: ScanStore
    pipeline: Pipeline
    lease_seconds: float

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
                result = self.pipeline.scan(
                    parse_reference(scan.reference),
                    platform=parse_platform(scan.platform) if scan.platform else None,
                    engine=scan.engine,
                    pull_auth=pull_auth,
                    scan_id=scan_id,
                )
        except TollgateError as error:
            return self._failed(scan_id, attempt, error, final_attempt=final_attempt)
        except Exception as error:
            logger.exception("scan %s failed unexpectedly", scan_id)
            reason = f"internal error: {type(error).__name__}: {error}"
            if self.scans.fail(scan_id, attempt, reason):
                self._failure_decided(scan_id, reason)
            return JobResult.FAILED
        outcome = result.outcome
        if not self.scans.complete(
            scan_id,
            attempt,
            digest=outcome.image.digest,
            timings=outcome.timings.as_dict(),
            findings=len(outcome.findings),
        ):
            return JobResult.SKIPPED
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
        scan = self.scans.get(scan_id)
        self.pipeline.scan_failed(scan_id, scan.reference, scan.digest, scan.platform, reason)

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


@dataclass
class MaintenanceJobs:
    """Periodic lease work scheduled by Celery beat (or the embedded executor's timer)."""

    scans: ScanStore
    dispatcher: Dispatcher
    stranded_after: timedelta
    images: ImageStore
    fleet: FleetHistory
    admissions: AdmissionLog
    admission_log_kept: timedelta

    def periodic(self, now: datetime | None = None) -> int:
        """One maintenance pass: recover stranded scans, record today's fleet totals (the
        dashboard's findings trend), forget admission events older than the log keeps.
        Returns the scans dispatched again."""
        now = now or datetime.now(UTC)
        recovered = self.recover(now)
        totals = self.images.totals()
        self.fleet.record(now.date(), totals.images, totals.findings, totals.fixable)
        pruned = self.admissions.prune(now - self.admission_log_kept)
        if pruned:
            logger.info(
                "admission log: %d event(s) older than %s forgotten",
                pruned,
                self.admission_log_kept,
            )
        return recovered

    def recover(self, now: datetime | None = None) -> int:
        """Dispatch again every scan left queued or whose worker stopped renewing its lease."""
        now = now or datetime.now(UTC)
        stranded = self.scans.stranded(now - self.stranded_after, now)
        for scan in stranded:
            self.dispatcher.dispatch(scan.id, scan.queue)
        if stranded:
            logger.info("re-dispatched %d stranded scans", len(stranded))
        return len(stranded)
