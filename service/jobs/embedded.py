"""Embedded mode: the same jobs as the Celery tasks, run by an in-process thread pool.

Used by ``tollgate serve`` when no broker is configured. Scans survive a restart:
queued and abandoned scans are dispatched again at start and on a timer. Re-decisions
(after a policy, allowlist or VEX change) run on the same pool, after the scans waiting
in the admission and push queues.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from service.errors import TollgateError
from service.jobs.dispatch import Queue, queue_rank
from service.jobs.priority_pool import PriorityPool
from service.jobs.scan import JobResult, MaintenanceJobs, ScanJob, backoff
from service.registry.pull_auth import PullAuthorization
from service.settings import Settings

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class EmbeddedExecutor:
    """A :class:`service.jobs.dispatch.Dispatcher` that runs scans in this process."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool = PriorityPool(settings.embedded_workers, name="tollgate-scan")
        self._stop = threading.Event()
        # Credentials a request carried, in memory until its scan ends (never stored).
        self._pull_auth: dict[str, PullAuthorization] = {}
        self._job: ScanJob | None = None
        self._maintenance: MaintenanceJobs | None = None
        self._redecide: Callable[[str], object] | None = None
        self._timer = threading.Thread(
            target=self._maintenance_loop, name="tollgate-maintenance", daemon=True
        )

    def bind(
        self, job: ScanJob, maintenance: MaintenanceJobs, redecide: Callable[[str], object]
    ) -> None:
        """The jobs this executor runs (they are built with it as their dispatcher)."""
        self._job, self._maintenance, self._redecide = job, maintenance, redecide

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._stop.set()
        self._pool.shutdown()
        if self._timer.is_alive():
            self._timer.join()

    def dispatch(
        self, scan_id: str, queue: str, pull_auth: PullAuthorization | None = None
    ) -> None:
        if pull_auth is not None:
            self._pull_auth[scan_id] = pull_auth
        if self._stop.is_set():
            return  # picked up by recovery after the next start
        self._pool.submit(queue_rank(queue), lambda: self._run(scan_id))

    def reachable(self) -> bool:
        return not self._stop.is_set()

    def redecide(self, trigger: str) -> None:
        if not self._stop.is_set():
            self._pool.submit(Queue.BULK.rank, lambda: self._redecide_all(trigger))

    def _redecide_all(self, trigger: str) -> None:
        try:
            self._bound(self._redecide)(trigger)
        except TollgateError as error:
            logger.warning("re-decision (%s) failed: %s", trigger, error)

    @staticmethod
    def _bound(part: _T | None) -> _T:
        if part is None:
            raise _unbound()
        return part

    def _run(self, scan_id: str) -> None:
        attempts = self._settings.scan_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                result = self._bound(self._job).run(
                    scan_id,
                    final_attempt=attempt == attempts,
                    pull_auth=self._pull_auth.get(scan_id),
                )
            except TollgateError as error:  # the database itself is unavailable
                logger.warning("scan %s could not run: %s", scan_id, error)
                result = JobResult.RETRY
            if result not in (JobResult.BUSY, JobResult.RETRY):
                self._pull_auth.pop(scan_id, None)
                return
            delay = (
                self._settings.scan_lease_seconds
                if result is JobResult.BUSY
                else backoff(self._settings.scan_retry_backoff, attempt - 1)
            )
            if self._stop.wait(delay):
                return

    def _maintenance_loop(self) -> None:
        """The maintenance pass (stranded scans, fleet totals, admission log), as Celery
        beat's ``tollgate.recover`` runs it in the distributed mode."""
        interval = self._settings.recovery_interval_seconds
        while True:
            try:
                self._bound(self._maintenance).periodic()
            except TollgateError as error:
                logger.warning("maintenance pass failed: %s", error)
            if self._stop.wait(interval):
                return


def _unbound() -> TollgateError:
    return TollgateError("the embedded executor runs no jobs yet", hint="call bind() first")
