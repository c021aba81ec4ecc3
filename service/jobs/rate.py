"""How fast one caller may queue new scans: a token bucket per caller (a token, a webhook
source), in memory, so a flood of requests is answered with 429 instead of filling the
queue. Each process keeps its own buckets (the limit is per API process)."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from service.errors import RateLimitedError

# Buckets kept at most (least recently used dropped): memory stays bounded whatever the
# number of callers.
MAX_CALLERS = 10_000


class SubmissionRate:
    """``per_minute`` new scans per caller, in bursts of up to ``burst``."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when
        self._lock = threading.Lock()
        self.refused = 0  # requests refused so far (a metric)

    def take(self, caller: str) -> None:
        """Spend one scan of ``caller``'s allowance, or raise RateLimitedError saying when
        the next one is allowed."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.pop(caller, (self._burst, now))
            tokens = min(self._burst, tokens + (now - then) * self._rate)
            if tokens < 1.0:
                self._remember(caller, tokens, now)
                self.refused += 1
                wait = math.ceil((1.0 - tokens) / self._rate) if self._rate > 0 else 60
                raise RateLimitedError(
                    f"too many scan requests from {caller}",
                    hint=f"retry after {wait} s (TOLLGATE_SCAN_RATE_PER_MINUTE)",
                    retry_after=wait,
                )
            self._remember(caller, tokens - 1.0, now)

    def give_back(self, caller: str) -> None:
        """Return one scan to ``caller`` (its request named a scan that already existed)."""
        with self._lock:
            if caller in self._buckets:
                tokens, then = self._buckets[caller]
                self._buckets[caller] = (min(self._burst, tokens + 1.0), then)

    def _remember(self, caller: str, tokens: float, now: float) -> None:
        self._buckets[caller] = (tokens, now)
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
