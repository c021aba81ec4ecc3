"""Builds the Celery application from settings (``workers.app`` holds the process-wide one).

Queues: ``admission`` and ``push`` carry work someone is waiting for; ``bulk`` carries
re-evaluation and maintenance. A worker takes from its queues in that order (Redis
``queue_order_strategy: priority`` and ``-Q admission,push,bulk``); dedicated workers for
the first two keep a long bulk task from delaying them at all.
"""

from __future__ import annotations

from datetime import timedelta

from celery import Celery

from service.errors import ConfigurationError
from service.jobs.dispatch import Queue
from service.settings import Settings


def make_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ConfigurationError(
            "TOLLGATE_BROKER_URL is not set",
            hint="set it to redis://HOST:6379/N to run workers, or run `tollgate serve` alone",
        )
    app = Celery("tollgate", broker=settings.broker_url, include=["workers.tasks"])
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        task_default_queue=Queue.PUSH.value,
        task_routes={
            "tollgate.redecide": {"queue": Queue.BULK.value},
            "tollgate.update_db": {"queue": Queue.BULK.value},
            "tollgate.recover": {"queue": Queue.BULK.value},
        },
        task_soft_time_limit=settings.scan_soft_time_limit,
        task_time_limit=settings.scan_time_limit,
        task_publish_retry=False,
        broker_connection_timeout=3,
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            "queue_order_strategy": "priority",  # -Q order: admission, push, bulk
        },
        beat_schedule={
            "recover-stranded-scans": {
                "task": "tollgate.recover",
                "schedule": timedelta(seconds=settings.recovery_interval_seconds),
            },
            "update-vulnerability-db": {
                "task": "tollgate.update_db",
                "schedule": timedelta(hours=settings.db_update_interval_hours),
            },
        },
    )
    return app
