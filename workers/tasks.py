"""Thin Celery tasks: take ids, run the shared job or pipeline step, map results to retries."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from service.errors import TollgateError
from service.jobs.celery_dispatch import CeleryDispatcher
from service.jobs.scan import JobResult, backoff
from service.registry.outbound import OutboundPolicy
from service.registry.pull_auth import PullAuthSealer, require_sealer
from service.settings import get_settings
from service.vulndb.feeds.catalog import default_feeds
from service.wiring import Components, ServiceJobs, components, service_jobs
from workers.app import app

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def runtime() -> tuple[Components, ServiceJobs]:
    """This worker process's collaborators and jobs (built on first use, after the fork)."""
    settings = get_settings()
    built = components(settings, outbound=OutboundPolicy.from_settings(settings))
    return built, service_jobs(built, dispatcher=CeleryDispatcher(app))


@app.task(bind=True, name="tollgate.scan", max_retries=None)  # type: ignore[untyped-decorator]
def scan(self: Any, scan_id: str, pull_auth: str | None = None) -> str:
    """Run one scan; BUSY waits for the other attempt's lease, RETRY backs off.

    ``pull_auth``: the request's registry credentials, sealed by the API's dispatcher.
    """
    settings = get_settings()
    retries: int = self.request.retries
    job = runtime()[1].scan
    try:
        auth = (
            require_sealer(PullAuthSealer.from_settings(settings)).unseal(pull_auth)
            if pull_auth
            else None
        )
    except TollgateError as error:
        result = job.refuse(scan_id, error)
    else:
        result = job.run(scan_id, final_attempt=retries >= settings.scan_retries, pull_auth=auth)
    if result is JobResult.BUSY:
        raise self.retry(countdown=settings.scan_lease_seconds)
    if result is JobResult.RETRY:
        raise self.retry(countdown=backoff(settings.scan_retry_backoff, retries))
    return result.value


@app.task(name="tollgate.recover")  # type: ignore[untyped-decorator]
def recover() -> int:
    """Dispatch stranded scans again; record today's fleet totals."""
    return runtime()[1].maintenance.periodic()


@app.task(name="tollgate.redecide")  # type: ignore[untyped-decorator]
def redecide(trigger: str) -> int:
    """Decide again on every stored image (a policy, allowlist or VEX change)."""
    return runtime()[0].pipeline.redecide_all(trigger)


@app.task(name="tollgate.update_db")  # type: ignore[untyped-decorator]
def update_db() -> int:
    """Import the default feeds (one that fails is logged, the others still imported); re-match
    and re-decide the images whose findings changed."""
    return runtime()[0].pipeline.update(default_feeds(), skip_failing=True).redecided
