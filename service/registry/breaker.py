"""A circuit breaker per registry host: one that stopped answering is not waited on again.

A request that fails after all its retries (connection refused or reset, timeouts, 5xx,
429) opens the host's circuit for ``cooldown`` seconds: every request to that host then
fails at once with a transient :class:`RegistryUnavailableError`, so the scan goes back to
the queue with its backoff and the worker takes other work, instead of every scan of a
dead registry holding a worker for minutes. After the cooldown one request is let
through: its success closes the circuit, its failure opens it again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from service.errors import RegistryUnavailableError


class CircuitBreaker:
    def __init__(self, cooldown: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._cooldown = cooldown
        self._clock = clock
        self._open_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def check(self, host: str) -> None:
        """Raise at once while ``host``'s circuit is open."""
        with self._lock:
            until = self._open_until.get(host)
            if until is None:
                return
            left = until - self._clock()
            if left <= 0:  # half open: this request goes through; others wait for it
                self._open_until[host] = self._clock() + self._cooldown
                return
        raise RegistryUnavailableError(
            f"registry {host} did not answer recently; not contacted for another {left:.0f} s",
            hint="the scan is retried later (TOLLGATE_REGISTRY_CIRCUIT_SECONDS)",
        )

    def failed(self, host: str) -> None:
        with self._lock:
            self._open_until[host] = self._clock() + self._cooldown

    def succeeded(self, host: str) -> None:
        with self._lock:
            self._open_until.pop(host, None)
