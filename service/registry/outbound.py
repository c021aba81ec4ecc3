"""The outbound policy of pulls: which registries, and which network addresses, a pull may reach.

Remotely requested pulls (API scans, registry and Harbor webhooks, the Harbor adapter,
admission) run under :meth:`OutboundPolicy.from_settings`; the local CLI runs under
:meth:`OutboundPolicy.unrestricted`. Under the restricted policy:

* ``TOLLGATE_ALLOWED_REGISTRIES`` (``host[:port]`` globs), when set, lists the registries
  an image may name; unset, any registry may be named;
* every connection (the registry, each redirect, the token realm) goes to a public address
  unless a listed entry names its host: loopback, private, link-local (cloud metadata),
  CGNAT, unique-local, multicast, reserved and unspecified addresses are refused. The
  host is resolved once and the connection made to the checked address (Host header and
  TLS server name unchanged), so a name cannot resolve to one address when checked and
  another when connected (DNS rebinding);
* plain HTTP goes only to listed hosts and ``TOLLGATE_INSECURE_REGISTRIES``, so a
  redirect or a token realm cannot downgrade to http elsewhere;
* a registry's credentials go to a token realm on another host only when a listed entry
  names that host (Docker Hub's ``auth.docker.io`` excepted).

Environment proxies are not used for restricted pulls: the address connected to is the
one checked.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from service.errors import RegistryNotAllowedError
from service.settings import Settings

if TYPE_CHECKING:  # httpx loads with the first registry client: not for a local image
    import httpx

logger = logging.getLogger(__name__)

SETTING = "TOLLGATE_ALLOWED_REGISTRIES"
_HINT = f"name the registry in {SETTING} (JSON list of host[:port] globs) to allow it"
_DEFAULT_PORTS = {"https": 443, "http": 80}
# Docker Hub's registry and the token service it names in its challenges.
_HUB_REGISTRIES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_HUB_REALM = "auth.docker.io"

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


def resolve(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (TCP), in the resolver's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def is_public(address: Address) -> bool:
    """Globally routable unicast: not loopback, private, link-local, CGNAT, unique-local,
    multicast, reserved or unspecified (IPv4 inside IPv6 judged by its IPv4 address)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            address = embedded
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def netloc(host: str, port: int) -> str:
    """``host:port`` with IPv6 addresses in brackets, lowercased."""
    host = host.lower().strip("[]")
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _patterns(entry: str) -> tuple[str, ...]:
    """An entry as ``host:port`` globs: without a port it names the default ports."""
    entry = entry.strip().lower()
    has_port = "]:" in entry if entry.startswith("[") else ":" in entry
    if has_port:
        return (entry,)
    return tuple(f"{entry}:{port}" for port in _DEFAULT_PORTS.values())


@dataclass(frozen=True)
class OutboundPolicy:
    """Build with :meth:`unrestricted` or :meth:`from_settings`; ``resolver`` is replaceable
    in tests (a name -> addresses function)."""

    restricted: bool
    allowed: tuple[str, ...] | None = None  # host:port globs; None: any registry may be named
    plain_http_hosts: frozenset[str] = frozenset()  # TOLLGATE_INSECURE_REGISTRIES
    resolver: Resolver = field(default=resolve, compare=False)

    @classmethod
    def unrestricted(cls) -> OutboundPolicy:
        """The local CLI's: whatever the user names is pulled."""
        return cls(restricted=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, resolver: Resolver = resolve) -> OutboundPolicy:
        """Remote requests': TOLLGATE_ALLOWED_REGISTRIES, public addresses otherwise."""
        allowed = settings.allowed_registries
        return cls(
            restricted=True,
            allowed=None
            if allowed is None
            else tuple(p for entry in allowed for p in _patterns(entry)),
            plain_http_hosts=frozenset(h.lower() for h in settings.insecure_registries),
            resolver=resolver,
        )

    def names(self, host: str, port: int) -> bool:
        """True when a TOLLGATE_ALLOWED_REGISTRIES entry names ``host:port``."""
        candidate = netloc(host, port)
        return any(fnmatchcase(candidate, pattern) for pattern in self.allowed or ())

    def check_registry(self, host: str, port: int) -> None:
        """Refuses a registry an image may not name (the list is set and does not name it)."""
        aliases = _HUB_REGISTRIES if host.lower() in _HUB_REGISTRIES else (host,)
        if (
            self.restricted
            and self.allowed is not None
            and not any(self.names(alias, port) for alias in aliases)
        ):
            raise RegistryNotAllowedError(
                f"registry {netloc(host, port)} is not in {SETTING}", hint=_HINT
            )

    def address_for(self, host: str, port: int) -> str:
        """The one address to connect to for ``host:port``: resolved once, checked."""
        if not self.restricted:
            return host
        named = self.names(host, port)
        refused: list[str] = []
        for text in self.resolver(host, port):
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if named or is_public(address):
                return str(address)
            refused.append(str(address))
        if not refused:
            raise RegistryNotAllowedError(f"{host} has no address", hint="check the host name")
        raise RegistryNotAllowedError(
            f"{netloc(host, port)} resolves to {', '.join(refused)}, which is not a public "
            "address: remote requests may not reach internal services",
            hint=_HINT,
        )

    def check_plain_http(self, host: str, port: int) -> None:
        """Plain HTTP only to listed or configured-insecure hosts (restricted pulls)."""
        if not self.restricted or self.names(host, port):
            return
        if host.lower() in self.plain_http_hosts or netloc(host, port) in self.plain_http_hosts:
            return
        raise RegistryNotAllowedError(
            f"refusing plain HTTP to {netloc(host, port)} (a redirect or token realm must "
            "use https)",
            hint=_HINT,
        )

    @staticmethod
    def origin(url: httpx.URL) -> tuple[str, int]:
        """The host (lower case) and port ``url`` connects to."""
        return url.host.lower(), url.port or _DEFAULT_PORTS.get(url.scheme, 443)

    def may_send_credentials(self, registry: httpx.URL, realm: httpx.URL) -> bool:
        """Whether the credentials of the ``registry`` (its base URL) may go to the token
        ``realm``: on the registry's own host and port, Docker Hub's token service, or
        (restricted) a host a listed entry names."""
        if not self.restricted or self.origin(realm) == self.origin(registry):
            return True
        if registry.host in _HUB_REGISTRIES and realm.host == _HUB_REALM:
            return True
        return self.names(*self.origin(realm))

    def transport(self) -> httpx.BaseTransport | None:
        """The transport registry clients connect through (None: httpx's own, which follows
        environment proxies; only unrestricted pulls use them)."""
        import urllib.request

        from service.registry.transport import OnDemandTransport, PinnedTransport

        if not self.restricted:
            return None if urllib.request.getproxies() else OnDemandTransport()
        return PinnedTransport(self, OnDemandTransport())
