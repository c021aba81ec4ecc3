"""The HTTP transport of registry clients: TLS is set up only when a request needs it.

Loading the CA bundle into an SSL context costs tens of milliseconds, a large part
of a cached ``tollgate sbom`` against a plain-HTTP (loopback) registry. Requests are
handed to one of two ``httpx.HTTPTransport`` pools, each built on first use: a
verifying TLS pool for ``https`` URLs (a token realm on another host included) and
a plain pool for ``http`` URLs, which never negotiates TLS.
"""

from __future__ import annotations

import threading

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
