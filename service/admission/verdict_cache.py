"""Recent verdicts by digest, in memory, for admission's hot path.

An entry serves while it is younger than ``ttl`` and was made with the admission
bundle's current version. What is current is learnt by :meth:`VerdictCache.refreshed`,
which the owner calls once per ``refresh`` seconds with two cheap database answers: the
bundle's latest version (a new one empties the cache) and the digests decided since the
last refresh (their entries are dropped, so a decision the worker records in another
process is seen within ``refresh`` seconds). No I/O here; thread-safe.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from policies.decision import Decision

VERDICT_TTL_S = 10.0  # an upper bound on staleness should a change notice be missed
REFRESH_S = 1.0  # bundle versions and newly recorded decisions are noticed within this
_SIZE = 16384


@dataclass(frozen=True)
class _Entry:
    decision: Decision
    expires: float


class VerdictCache:
    def __init__(
        self, bundle: str, *, ttl: float = VERDICT_TTL_S, refresh: float = REFRESH_S
    ) -> None:
        self._bundle = bundle
        self._ttl = ttl
        self._refresh = refresh
        self._entries: dict[str, _Entry] = {}
        self._version: int | None = None
        self._high_water: int | None = None  # newest decision id seen
        self._fresh_until = float("-inf")
        self._lock = threading.Lock()

    @property
    def high_water(self) -> int | None:
        """The newest decision id the last refresh saw (None before the first)."""
        return self._high_water

    def due(self, now: float) -> bool:
        """Whether the bundle version and recorded decisions must be asked again."""
        return now >= self._fresh_until

    def get(self, digest: str, now: float) -> Decision | None:
        """The cached current verdict on ``digest``, or None (absent, expired or unsure)."""
        if self.due(now):
            return None
        entry = self._entries.get(digest)
        if entry is None or entry.expires <= now:
            return None
        return entry.decision

    def put(self, decision: Decision, now: float, *, seen: int | None) -> None:
        """Remember ``decision`` if it was made with the current bundle version and no
        refresh happened since it was read (``seen``: :attr:`high_water` before the read,
        so a decision read just before a newer one was recorded is not kept)."""
        with self._lock:
            if (
                seen != self._high_water
                or decision.bundle != self._bundle
                or decision.bundle_version != self._version
            ):
                return
            if len(self._entries) >= _SIZE:
                self._entries = {k: e for k, e in self._entries.items() if e.expires > now}
                if len(self._entries) >= _SIZE:
                    self._entries.clear()
            self._entries[decision.digest] = _Entry(decision, now + self._ttl)

    def refreshed(
        self, version: int | None, high_water: int, decided: Iterable[str], now: float
    ) -> None:
        """Record what the database said: the bundle's ``version``, the newest decision id
        and the digests ``decided`` since the previous refresh."""
        with self._lock:
            if version != self._version or self._high_water is None:
                self._entries.clear()
            else:
                for digest in decided:
                    self._entries.pop(digest, None)
            self._version = version
            self._high_water = high_water
            self._fresh_until = now + self._refresh

    @property
    def version(self) -> int | None:
        return self._version
