"""Submitting a scan: persist (idempotently) first, then hand it to a worker."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from service.errors import InvalidReferenceError, RateLimitedError
from service.image.manifest import parse_platform
from service.image.model import Transport
from service.image.reference import format_reference, parse_reference
from service.jobs.dispatch import Dispatcher
from service.jobs.rate import SubmissionRate
from service.registry.pull_auth import PullAuthorization
from service.store.advisories import VulnStore
from service.store.scans import Scan, ScanRequest, ScanStore

logger = logging.getLogger(__name__)

QUEUE_FULL_RETRY_S = 30

EngineVersion = Callable[[str], str]  # engine name -> version string


class ScanSubmitter:
    def __init__(
        self,
        scans: ScanStore,
        vulns: VulnStore,
        dispatcher: Dispatcher,
        *,
        engine: str,
        engine_version: EngineVersion,
        rate: SubmissionRate | None = None,
        queue_limits: Mapping[str, int] | None = None,
    ) -> None:
        self.rate = rate
        self._queue_limits = dict(queue_limits or {})
        self._scans = scans
        self._vulns = vulns
        self._dispatcher = dispatcher
        self._engine = engine
        self._engine_version = engine_version

    def _check_room(self, queue: str) -> None:
        """Refuse (429) a scan for a queue holding its limit of unfinished scans: a flood
        waits at its source instead of in the queue, ahead of everyone else's scans."""
        limit = self._queue_limits.get(queue)
        if limit is None:
            return
        waiting = self._scans.waiting(queue)
        if waiting >= limit:
            raise RateLimitedError(
                f"the {queue} queue is full ({waiting} scans waiting)",
                hint="retry later (TOLLGATE_SCAN_QUEUE_LIMIT)",
                retry_after=QUEUE_FULL_RETRY_S,
            )

    def engine_version(self, engine: str) -> str:
        return self._engine_version(engine)

    def submit(
        self,
        reference: str,
        *,
        platform: str | None,
        source: str,
        queue: str,
        pull_auth: PullAuthorization | None = None,
        caller: str | None = None,
    ) -> tuple[Scan, bool]:
        """The scan of ``reference`` (registry images only); a new one is dispatched.

        ``pull_auth`` goes to the worker with the new scan only (it is never stored).
        ``caller`` (a token's name, a webhook source) spends one of its allowance of new
        scans: RateLimitedError once it is used up; a request for an existing scan is free.
        """
        ref = parse_reference(reference)
        if ref.transport is not Transport.REGISTRY:
            raise InvalidReferenceError(
                f"{reference!r} is not a registry image",
                hint="the service scans registry images: name one as host/repository:tag",
            )
        if platform:
            parse_platform(platform)
        request = ScanRequest(
            reference=format_reference(ref),
            digest=ref.digest,
            platform=platform,
            source=source,
            queue=queue,
            engine=self._engine,
            engine_version=self._engine_version(self._engine),
            db_revision=self._vulns.revision(),
        )
        self._check_room(queue)
        if self.rate is not None and caller is not None:
            self.rate.take(caller)
        scan, created = self._scans.submit(request)
        if not created and self.rate is not None and caller is not None:
            self.rate.give_back(caller)
        if created:
            self._dispatcher.dispatch(scan.id, queue, pull_auth)
        return scan, created
