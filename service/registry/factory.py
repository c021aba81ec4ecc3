"""Build one :class:`RegistryClient` per registry host from settings and credentials."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from service.image.cache import BlobCache, ProgressCallback
from service.registry.breaker import CircuitBreaker
from service.registry.credentials import CredentialStore
from service.registry.interface import Registry
from service.registry.outbound import OutboundPolicy
from service.settings import Settings

if TYPE_CHECKING:  # the clients, and httpx, load with the first: not for a local image
    import httpx

    from service.registry.client import RegistryClient


class PullRegistry(Registry, Protocol):
    """The Registry contract plus streaming large blobs into the cache."""

    def fetch_blob_to(
        self,
        repository: str,
        digest: str,
        cache: BlobCache,
        progress: ProgressCallback | None = None,
        *,
        size: int | None = None,
    ) -> Path: ...


class RegistryClientFactory:
    """``factory(host)`` -> the (reused) client for that host; ``close()`` releases them.

    A client looks its host's credentials up in the store when it is built, and again
    when the registry refuses them, so a long-lived factory follows renewed helper tokens.
    ``outbound`` says what the clients may reach: :meth:`OutboundPolicy.from_settings` for
    remotely requested pulls, :meth:`OutboundPolicy.unrestricted` (the default) for the CLI.
    """

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialStore,
        *,
        outbound: OutboundPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self.outbound = outbound or OutboundPolicy.unrestricted()
        self._transport = transport
        self._clients: dict[str, RegistryClient] = {}
        # One circuit per host for every client of this factory (the service shares one).
        self._breaker = CircuitBreaker(settings.registry_circuit_seconds)

    def __call__(self, host: str) -> RegistryClient:
        from service.registry.client import RegistryClient

        client = self._clients.get(host)
        if client is None:
            client = RegistryClient(
                host,
                credentials=partial(self._credentials.lookup, host),
                insecure_registries=self._settings.insecure_registries,
                timeout=self._settings.registry_timeout,
                retries=self._settings.registry_retries,
                transport=self._transport,
                outbound=self.outbound,
                breaker=self._breaker,
            )
            self._clients[host] = client
        return client

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
