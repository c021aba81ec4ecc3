"""New scans per caller are bounded: a token bucket per caller, with bounded memory."""

from __future__ import annotations

import pytest

from service.errors import RateLimitedError
from service.jobs.rate import MAX_CALLERS, SubmissionRate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate_and_callers_apart() -> None:
    clock = Clock()
    rate = SubmissionRate(per_minute=60, burst=2, clock=clock)
    rate.take("a")
    rate.take("a")
    with pytest.raises(RateLimitedError) as refused:
        rate.take("a")
    assert refused.value.retry_after == 1 and "TOLLGATE_SCAN_RATE_PER_MINUTE" in str(refused.value)
    rate.take("b")  # another caller has its own allowance
    clock.now = 1.0  # one scan a second comes back
    rate.take("a")
    with pytest.raises(RateLimitedError):
        rate.take("a")
    rate.give_back("a")  # a request that named an existing scan costs nothing
    rate.take("a")


def test_memory_is_bounded_whatever_the_number_of_callers() -> None:
    rate = SubmissionRate(per_minute=60, burst=1, clock=Clock())
    for caller in range(MAX_CALLERS + 50):
        rate.take(str(caller))
    assert len(rate._buckets) == MAX_CALLERS
