"""How a queued scan reaches a worker: Celery (broker) or the in-process pool."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Queue(StrEnum):
    PUSH = "push"  # registry pushes and API requests: high priority
    ADMISSION = "admission"  # admission checks waiting on an answer: high priority
    BULK = "bulk"  # re-evaluation and maintenance


class Dispatcher(Protocol):
    def dispatch(self, scan_id: str, queue: str) -> None:
        """Hand ``scan_id`` to a worker; the scan row is already persisted as queued."""

    def reachable(self) -> bool:
        """Whether work can be handed over now (``/readyz``)."""
