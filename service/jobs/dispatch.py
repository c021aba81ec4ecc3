"""How a queued scan reaches a worker: Celery (broker) or the in-process pool."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from service.registry.pull_auth import PullAuthorization


class Queue(StrEnum):
    """Work queues, in the order a worker takes from them: admission checks (an API server
    is waiting), then pushes and API requests, then re-evaluation and maintenance."""

    ADMISSION = "admission"
    PUSH = "push"
    BULK = "bulk"

    @property
    def rank(self) -> int:
        return list(Queue).index(self)


def queue_rank(name: str) -> int:
    """Where work sent to queue ``name`` comes in the order (unknown names: with bulk)."""
    try:
        return Queue(name).rank
    except ValueError:
        return Queue.BULK.rank


WORKER_QUEUES = ",".join(queue.value for queue in Queue)  # a worker's -Q, highest first


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
