"""The HTTP transports of registry clients: TLS set up only when a request needs it
(:class:`OnDemandTransport`), and for restricted pulls every connection made to the
address the outbound policy checked (:class:`PinnedTransport`). httpx loads with them,
with the first registry client: a command on a local image never imports it.

Loading the CA bundle into an SSL context costs tens of milliseconds, a large part
of a cached ``tollgate sbom`` against a plain-HTTP (loopback) registry. Requests are
handed to one of two ``httpx.HTTPTransport`` pools, each built on first use: a
verifying TLS pool for ``https`` URLs (a token realm on another host included) and
a plain pool for ``http`` URLs, which never negotiates TLS.
"""

from __future__ import annotations

import threading
from typing import Protocol

import httpx


class OnDemandTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._pools: dict[str, httpx.HTTPTransport] = {}
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._pool(request.url.scheme).handle_request(request)

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _pool(self, scheme: str) -> httpx.HTTPTransport:
        with self._lock:
            pool = self._pools.get(scheme)
            if pool is None:
                # verify=False for http: the pool only ever opens plain connections, so
                # it needs no CA bundle; https URLs always get the verifying pool.
                verify = scheme == "https"
                pool = httpx.HTTPTransport(verify=verify)
                self._pools[scheme] = pool
            return pool


class AddressCheck(Protocol):
    """What :class:`PinnedTransport` asks of the outbound policy
    (:class:`service.registry.outbound.OutboundPolicy`)."""

    def origin(self, url: httpx.URL) -> tuple[str, int]: ...

    def check_plain_http(self, host: str, port: int) -> None: ...

    def address_for(self, host: str, port: int) -> str: ...


class PinnedTransport(httpx.BaseTransport):
    """Every request (redirects and token realms included, as each passes here) goes to the
    address :meth:`OutboundPolicy.address_for` checked: the URL's host is replaced by that
    address, the Host header and the TLS server name (``sni_hostname``, also the name the
    certificate is verified against) stay the host's."""

    def __init__(self, policy: AddressCheck, inner: httpx.BaseTransport) -> None:
        self._policy = policy
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host, port = self._policy.origin(url)
        if url.scheme != "https":
            self._policy.check_plain_http(host, port)
        try:
            address = self._policy.address_for(host, port)
        except OSError as exc:  # the name does not resolve: as a failed connection
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions.setdefault("sni_hostname", host)
        pinned = httpx.Request(
            request.method,
            url.copy_with(host=address),
            headers=request.headers,
            stream=request.stream,
            extensions=extensions,
        )
        return self._inner.handle_request(pinned)

    def close(self) -> None:
        self._inner.close()
