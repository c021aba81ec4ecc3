"""How a queued scan reaches a worker: Celery (broker) or the in-process pool."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from service.registry.pull_auth import PullAuthorization


class Queue(StrEnum):
    PUSH = "push"  # registry pushes and API requests: high priority
    ADMISSION = "admission"  # admission checks waiting on an answer: high priority
    BULK = "bulk"  # re-evaluation and maintenance


class Dispatcher(Protocol):
    def dispatch(
        self, scan_id: str, queue: str, pull_auth: PullAuthorization | None = None
    ) -> None:
        """Hand ``scan_id`` to a worker; the scan row is already persisted as queued.

        ``pull_auth``: registry credentials the request carried, for this scan only.
        """

    def redecide(self, trigger: str) -> None:
        """Decide again on every stored image, in the background (``trigger``: why, e.g.
        a policy bundle's new version)."""

    def reachable(self) -> bool:
        """Whether work can be handed over now (``/readyz``)."""
