"""Thin Celery tasks: take ids, run the shared job, map its result to Celery's retry."""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

from service.errors import TollgateError
from service.jobs.pull_auth import PullAuthSealer, require_sealer
from service.jobs.scan import JobResult, backoff
from service.settings import get_settings
from service.store.database import make_engine
from workers.app import app
from workers.celery_dispatch import CeleryDispatcher
from workers.runtime import Runtime, build_runtime
from workers.update import update_database

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """This worker process's jobs (built on first use, after the fork)."""
    settings = get_settings()
    return build_runtime(settings, make_engine(settings.sqlalchemy_url), CeleryDispatcher(app))


@app.task(bind=True, name="tollgate.scan", max_retries=None)  # type: ignore[untyped-decorator]
def scan(self: Any, scan_id: str, pull_auth: str | None = None) -> str:
    """Run one scan; BUSY waits for the other attempt's lease, RETRY backs off.

    ``pull_auth``: the request's registry credentials, sealed by the API's dispatcher.
    """
    settings = get_settings()
    retries: int = self.request.retries
    try:
        auth = (
            require_sealer(PullAuthSealer.from_settings(settings)).unseal(pull_auth)
            if pull_auth
            else None
        )
    except TollgateError as error:
        result = runtime().scan.refuse(scan_id, error)
    else:
        result = runtime().scan.run(
            scan_id, final_attempt=retries >= settings.scan_retries, pull_auth=auth
        )
    if result is JobResult.BUSY:
        raise self.retry(countdown=settings.scan_lease_seconds)
    if result is JobResult.RETRY:
        raise self.retry(countdown=backoff(settings.scan_retry_backoff, retries))
    return result.value


@app.task(name="tollgate.recover")  # type: ignore[untyped-decorator]
def recover() -> int:
    return runtime().maintenance.recover()


@app.task(name="tollgate.reevaluate")  # type: ignore[untyped-decorator]
def reevaluate() -> int:
    return runtime().maintenance.reevaluate()


@app.task(name="tollgate.update_db")  # type: ignore[untyped-decorator]
def update_db() -> int:
    """Import the configured feeds, then re-match every stored image if anything changed."""
    if update_database(runtime().maintenance.vulns):
        return runtime().maintenance.reevaluate()
    return 0
