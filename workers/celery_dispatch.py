"""Dispatch through the Celery broker (``TOLLGATE_BROKER_URL``)."""

from __future__ import annotations

import logging

from celery import Celery
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)

SCAN_TASK = "tollgate.scan"


class CeleryDispatcher:
    def __init__(self, app: Celery) -> None:
        self._app = app

    def dispatch(self, scan_id: str, queue: str) -> None:
        """Publish the scan; if the broker is down the scan stays queued for recovery."""
        try:
            self._app.send_task(SCAN_TASK, args=[scan_id], queue=queue)
        except (OperationalError, OSError) as error:
            logger.warning(
                "broker unreachable, scan %s stays queued until recovery: %s",
                scan_id,
                type(error).__name__,
            )

    def reachable(self) -> bool:
        try:
            with self._app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
        except (OperationalError, OSError):
            return False
        return True
