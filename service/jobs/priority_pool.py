"""Threads that take the most urgent task first: the embedded mode's worker pool.

Like Celery workers consuming their queues in priority order, an admission check queued
behind a thousand bulk re-decisions runs next, not last. Within one rank, first come,
first served.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

_Task = Callable[[], object]
_STOP_RANK = -1  # ahead of every task: a stopping pool takes no new work


class PriorityPool:
    def __init__(self, workers: int, *, name: str) -> None:
        self._queue: queue.PriorityQueue[tuple[int, int, _Task | None]] = queue.PriorityQueue()
        self._order = itertools.count()
        self._stopped = threading.Event()
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{n}", daemon=True)
            for n in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, rank: int, task: _Task) -> None:
        """Run ``task`` after every queued task of a lower rank (``rank`` ≥ 0)."""
        if not self._stopped.is_set():
            self._queue.put((rank, next(self._order), task))

    def pending(self) -> int:
        return self._queue.qsize()

    def shutdown(self) -> None:
        """Wait for the running tasks; the queued ones are dropped (their scans are
        persisted as queued: recovery dispatches them after the next start)."""
        self._stopped.set()
        for _ in self._threads:
            self._queue.put((_STOP_RANK, next(self._order), None))
        for thread in self._threads:
            thread.join()

    def _work(self) -> None:
        while True:
            _, _, task = self._queue.get()
            if task is None:
                return
            try:
                task()
            except Exception:  # a task's own failure must not end the worker thread
                logger.exception("background task failed")
