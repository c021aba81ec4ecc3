"""Shared helpers for the benchmarks: wall-clock timing of commands and medians."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence


def timed(argv: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds one run of ``argv`` takes; a failing command aborts the benchmark."""
    started = time.perf_counter()
    subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]
