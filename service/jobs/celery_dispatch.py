"""Dispatch through the Celery broker (``TOLLGATE_BROKER_URL``)."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

from service.jobs.dispatch import Queue
from service.registry.pull_auth import PullAuthorization, PullAuthSealer, require_sealer

logger = logging.getLogger(__name__)

SCAN_TASK = "tollgate.scan"
REDECIDE_TASK = "tollgate.redecide"


class CeleryDispatcher:
    """``sealer`` encrypts the credentials a request carried for the worker (else refused)."""

    def __init__(self, app: Celery, sealer: PullAuthSealer | None = None) -> None:
        self._app = app
        self._sealer = sealer

    def dispatch(
        self, scan_id: str, queue: str, pull_auth: PullAuthorization | None = None
    ) -> None:
        """Publish the scan; if the broker is down the scan stays queued for recovery.

        A scan recovered later runs without ``pull_auth``: only this message carries it.
        """
        kwargs = {}
        if pull_auth is not None:
            kwargs["pull_auth"] = require_sealer(self._sealer).seal(pull_auth)
        try:
            self._app.send_task(SCAN_TASK, args=[scan_id], kwargs=kwargs, queue=queue)
        except (OperationalError, OSError) as error:
            logger.warning(
                "broker unreachable, scan %s stays queued until recovery: %s",
                scan_id,
                type(error).__name__,
            )

    def redecide(self, trigger: str) -> None:
        try:
            self._app.send_task(REDECIDE_TASK, args=[trigger], queue=Queue.BULK.value)
        except (OperationalError, OSError) as error:
            logger.warning(
                "broker unreachable, re-decision (%s) not queued: %s", trigger, type(error).__name__
            )

    def reachable(self) -> bool:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except (OperationalError, OSError):
            return False
        return True
