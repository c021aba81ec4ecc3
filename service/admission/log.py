"""What the admission log keeps of an answered review (one event per distinct image, with
the workload that named it and the digest that was decided), and the recorder that
writes those events off the webhook's path."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime

from service.admission.controller import AdmissionResult
from service.admission.review import AdmissionRequest
from service.errors import TollgateError
from service.store.admissions import AdmissionEvent, AdmissionLog

logger = logging.getLogger(__name__)


def admission_events(
    request: AdmissionRequest, result: AdmissionResult, now: datetime
) -> list[AdmissionEvent]:
    """The events of ``result`` (none for a review no image was judged in: a deletion, an
    exempt namespace). A Pod a controller creates has no name yet: its generateName."""
    metadata = (request.object or {}).get("metadata") or {}
    name = request.name or str(metadata.get("generateName") or "")
    events: dict[str, AdmissionEvent] = {}
    for verdict in result.images:
        decided = verdict.decision.digest if verdict.decision else verdict.digest
        events.setdefault(
            verdict.use.image,
            AdmissionEvent(
                created_at=now,
                uid=request.uid,
                operation=request.operation,
                namespace=request.namespace,
                kind=request.kind.kind,
                name=name,
                image=verdict.use.image,
                digest=decided,
                state=verdict.state.value,
                allowed=result.allowed,
                reason=verdict.reason or None,
            ),
        )
    return list(events.values())


class AdmissionRecorder:
    """Events kept in memory and written in batches by one thread, every ``interval``
    seconds: the webhook's answer never waits for the database, and a burst of reviews
    costs one insert. At most ``limit`` events wait (the oldest are dropped, with a warning,
    while the database is unreachable); :meth:`close` writes what is left."""

    def __init__(self, log: AdmissionLog, *, interval: float = 0.5, limit: int = 50_000) -> None:
        self._log = log
        self._interval = interval
        self._limit = limit
        self._pending: list[AdmissionEvent] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="admission-log", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, events: Sequence[AdmissionEvent]) -> None:
        """Queue ``events`` (no I/O: safe on the event loop)."""
        with self._lock:
            self._pending.extend(events)
            dropped = len(self._pending) - self._limit
            if dropped > 0:
                del self._pending[:dropped]
        if dropped > 0:
            logger.warning("admission log: %d event(s) dropped, the database is behind", dropped)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._log.record(batch)
        except TollgateError as error:
            logger.warning("admission log: %d event(s) not written: %s", len(batch), error)
            with self._lock:
                self._pending[:0] = batch  # tried again with the next batch

    def close(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        self.flush()

    def _run(self) -> None:
        while not self._stopped.wait(self._interval):
            self.flush()
