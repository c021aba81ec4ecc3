"""The Celery application: ``celery -A workers.app worker -Q admission,push,bulk``.

Queues: ``push`` and ``admission`` carry work someone is waiting for; ``bulk``
carries re-evaluation and maintenance, so run dedicated workers for the first two
to keep them ahead of bulk work.
"""

from __future__ import annotations

from service.jobs.celery_config import make_celery
from service.settings import get_settings

app = make_celery(get_settings())
