"""A registry that stopped answering is not waited on again until its cooldown passed."""

from __future__ import annotations

import httpx
import pytest

from service.errors import RegistryUnavailableError
from service.registry.breaker import CircuitBreaker
from service.registry.client import RegistryClient


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Registry:
    """A transport that times out while ``down``, else answers a manifest HEAD."""

    def __init__(self) -> None:
        self.down = True
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if self.down:
            raise httpx.ConnectTimeout("no answer", request=request)
        return httpx.Response(200, headers={"Docker-Content-Digest": "sha256:" + "a" * 64})


def _client(registry: Registry, breaker: CircuitBreaker) -> RegistryClient:
    return RegistryClient(
        "registry.example:5000",
        transport=httpx.MockTransport(registry),
        retries=1,
        sleep=lambda _: None,
        breaker=breaker,
    )


def test_a_dead_registry_fails_fast_until_its_cooldown_then_recovers() -> None:
    clock, registry = Clock(), Registry()
    breaker = CircuitBreaker(cooldown=30, clock=clock)
    client = _client(registry, breaker)
    with pytest.raises(RegistryUnavailableError) as first:
        client.head_manifest("team/app", "1")
    assert registry.requests == 2 and first.value.transient  # tried, retried, gave up
    with pytest.raises(RegistryUnavailableError) as fast:
        _client(registry, breaker).head_manifest("team/app", "1")  # another client, same host
    assert registry.requests == 2  # not contacted: the circuit is open
    assert "did not answer recently" in fast.value.message and fast.value.transient

    clock.now += 31  # after the cooldown one request goes through ...
    registry.down = False
    assert client.head_manifest("team/app", "1") == "sha256:" + "a" * 64
    assert client.head_manifest("team/app", "1") is not None  # ... and closed the circuit
    assert registry.requests == 4


def test_other_hosts_are_not_affected() -> None:
    breaker = CircuitBreaker(cooldown=30, clock=Clock())
    breaker.failed("dead.example")
    breaker.check("alive.example")
    with pytest.raises(RegistryUnavailableError):
        breaker.check("dead.example")
