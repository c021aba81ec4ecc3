"""Verdicts from what is stored: the decision recorded for a digest with the admission
bundle's current version, or a fresh evaluation of the stored scan by the pipeline (the
same path every scan is decided by: VEX, config, signatures).

Verdicts are cached in memory (:mod:`service.admission.verdict_cache`): an image with a
recorded decision costs one indexed query the first time, then none until the bundle
changes, a new decision for it is recorded, or the short TTL passes. Once per second one
caller asks the database what changed (two cheap queries).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from policies.decision import Decision
from service.admission.verdict_cache import VerdictCache
from service.gate import PolicyGate
from service.image.model import ImageReference
from service.store.policies import PolicyStore

logger = logging.getLogger(__name__)

# The admission bundle's decision on the stored scan of a digest (recorded), referenced as
# the workload names it; None when nothing is stored (never scanned, or still running).
StoredEvaluation = Callable[[str, ImageReference], Decision | None]


class StoredVerdicts:
    """The admission bundle's verdict on a digest, from stored facts only (no registry).

    Thread-safe: the database path runs on a thread pool.
    """

    def __init__(
        self,
        gate: PolicyGate,
        store: PolicyStore,
        evaluate: StoredEvaluation,
        *,
        bundle: str,
        cache: VerdictCache | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = gate
        self._store = store
        self._evaluate = evaluate
        self._bundle = bundle
        self._cache = cache or VerdictCache(bundle)
        self._clock = clock
        self._refreshing = threading.Lock()

    def cached(self, digest: str) -> Decision | None:
        """The verdict on ``digest`` if it is in memory and current (no I/O), else None."""
        return self._cache.get(digest, self._clock())

    def decision(self, digest: str, ref: ImageReference) -> Decision | None:
        """The verdict on ``digest``, or None when Tollgate knows nothing about it yet.

        A decision recorded with the current version of the bundle is reused; otherwise
        the stored scan is evaluated (and the decision recorded). A decision made with
        another bundle or an older version is used only when no scan is stored to
        evaluate again.
        """
        cached = self.cached(digest)
        if cached is not None:
            return cached
        version = self._refresh()
        seen = self._cache.high_water
        current = self._store.latest_decision(digest, bundle=self._bundle, version=version)
        if current is None:
            current = self._evaluate(digest, ref)
            if current is None:
                return self._store.latest_decision(digest)
        self._cache.put(current, self._clock(), seen=seen)
        return current

    def _refresh(self) -> int | None:
        """The bundle's current version, after telling the cache what changed (at most
        once per refresh interval; concurrent callers wait for the one asking)."""
        with self._refreshing:
            if not self._cache.due(self._clock()):
                return self._cache.version
            version = self._store.latest_version(self._bundle)
            if version is None:  # a bundle Tollgate ships is seeded on first use
                version = self._gate.bundle(self._bundle).version
            high_water = self._store.last_decision_id()
            previous = self._cache.high_water
            decided = (
                self._store.digests_decided(previous, high_water)
                if previous is not None and high_water > previous
                else set()
            )
            self._cache.refreshed(version, high_water, decided, self._clock())
            return version
