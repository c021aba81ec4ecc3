"""The outbound policy of remote pulls: public addresses only unless listed, checked on the
address connected to, for every hop (redirects, token realms), with credentials kept home."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence

import httpx
import pytest

from service.errors import NotFoundError, RegistryError, RegistryNotAllowedError
from service.registry.client import RegistryClient
from service.registry.credentials import Credentials
from service.registry.outbound import OutboundPolicy, is_public
from service.settings import Settings
from tests.support.http_servers import Answer, Received, RecordingServer

DIGEST = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "::1",
        "::",
        "fc00::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "2002:7f00:1::1",
        "64:ff9b::7f00:1",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "140.82.112.3", "2606:4700::1111"])
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


def policy(allowed: list[str] | None = None, **resolved: Sequence[str]) -> OutboundPolicy:
    """The restricted policy, resolving names from ``resolved`` (dots as underscores)."""
    table = {name.replace("_", "."): addresses for name, addresses in resolved.items()}

    def resolver(host: str, port: int) -> Sequence[str]:
        return table.get(host, [host])

    return OutboundPolicy.from_settings(Settings(allowed_registries=allowed), resolver=resolver)


def test_unset_list_allows_any_public_registry_and_no_internal_one() -> None:
    unset = policy(registry_example=["140.82.112.3"], metadata_example=["169.254.169.254"])
    unset.check_registry("registry.example", 443)
    assert unset.address_for("registry.example", 443) == "140.82.112.3"
    with pytest.raises(RegistryNotAllowedError, match="TOLLGATE_ALLOWED_REGISTRIES") as refused:
        unset.address_for("metadata.example", 443)
    assert "169.254.169.254" in refused.value.message


def test_a_name_resolving_to_both_kinds_connects_only_to_the_public_address() -> None:
    mixed = policy(mixed_example=["127.0.0.1", "140.82.112.3"])
    assert mixed.address_for("mixed.example", 443) == "140.82.112.3"


def test_a_listed_entry_names_registries_and_allows_their_internal_addresses() -> None:
    listed = policy(["127.0.0.1:*", "registry.internal"], registry_internal=["10.0.0.5"])
    listed.check_registry("127.0.0.1", 5000)
    assert listed.address_for("127.0.0.1", 5000) == "127.0.0.1"
    assert listed.address_for("registry.internal", 443) == "10.0.0.5"
    with pytest.raises(RegistryNotAllowedError, match="not in TOLLGATE_ALLOWED_REGISTRIES"):
        listed.check_registry("ghcr.io", 443)
    with pytest.raises(RegistryNotAllowedError):  # no port in the entry: default ports only
        listed.address_for("registry.internal", 6379)


def test_docker_hub_is_named_by_any_of_its_names() -> None:
    policy(["docker.io"]).check_registry("registry-1.docker.io", 443)


def test_plain_http_only_to_listed_or_insecure_hosts() -> None:
    restricted = OutboundPolicy.from_settings(
        Settings(allowed_registries=["127.0.0.1:5000"], insecure_registries=["old.example"])
    )
    restricted.check_plain_http("127.0.0.1", 5000)
    restricted.check_plain_http("old.example", 80)
    with pytest.raises(RegistryNotAllowedError, match="plain HTTP"):
        restricted.check_plain_http("cdn.example", 80)


def test_credentials_go_to_the_registry_its_realm_host_or_a_listed_one() -> None:
    restricted = policy(["auth.example"])
    registry = httpx.URL("https://reg.example")
    hub = httpx.URL("https://registry-1.docker.io")
    assert restricted.may_send_credentials(registry, httpx.URL("https://reg.example/token"))
    assert restricted.may_send_credentials(hub, httpx.URL("https://auth.docker.io/token"))
    assert restricted.may_send_credentials(registry, httpx.URL("https://auth.example/t"))
    assert not restricted.may_send_credentials(registry, httpx.URL("https://evil.example/"))
    assert not restricted.may_send_credentials(registry, httpx.URL("https://reg.example:6379/"))
    free = OutboundPolicy.unrestricted()
    assert free.may_send_credentials(registry, httpx.URL("https://evil.example/"))


def test_the_unrestricted_policy_checks_nothing() -> None:
    free = OutboundPolicy.unrestricted()
    free.check_registry("127.0.0.1", 6379)
    free.check_plain_http("anything.example", 80)
    assert free.address_for("localhost", 6379) == "localhost"


# -- through a registry client, against servers on loopback ports --------------------------


@pytest.fixture
def internal() -> Iterator[RecordingServer]:
    """A fake internal service: nothing may reach it."""
    with RecordingServer() as server:
        yield server


def client_for(server: RecordingServer, outbound: OutboundPolicy, **kw: object) -> RegistryClient:
    return RegistryClient(server.host, outbound=outbound, retries=0, **kw)  # type: ignore[arg-type]


def test_a_registry_on_an_internal_address_is_refused_before_any_connection(
    internal: RecordingServer,
) -> None:
    with pytest.raises(RegistryNotAllowedError, match=r"127\.0\.0\.1"):
        client_for(internal, policy()).get_blob("x", DIGEST)
    assert internal.received == []


def test_the_connection_goes_to_the_checked_address_with_the_host_header_kept() -> None:
    lookups: list[str] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    with RecordingServer(lambda _: Answer(404)) as registry:
        allowed = OutboundPolicy.from_settings(
            Settings(allowed_registries=[f"registry.test:{registry.port}"]), resolver=resolver
        )
        host = f"registry.test:{registry.port}"
        client = RegistryClient(host, outbound=allowed, insecure_registries=[host], retries=0)
        with pytest.raises(NotFoundError):
            client.get_blob("x", DIGEST)
    assert lookups == ["registry.test"]
    assert registry.received[0].headers["Host"] == f"registry.test:{registry.port}"


def test_a_redirect_to_an_internal_service_is_refused(internal: RecordingServer) -> None:
    def redirect(_: Received) -> Answer:
        return Answer(307, {"Location": f"{internal.url}/latest/meta-data/"})

    with RecordingServer(redirect) as registry:
        allowed = policy([registry.host])
        with pytest.raises(RegistryNotAllowedError, match="TOLLGATE_ALLOWED_REGISTRIES"):
            client_for(registry, allowed).get_blob("x", DIGEST)
    assert internal.received == []


def test_a_token_realm_on_an_internal_service_is_refused(internal: RecordingServer) -> None:
    def challenge(_: Received) -> Answer:
        return Answer(401, {"WWW-Authenticate": f'Bearer realm="{internal.url}/token"'})

    with RecordingServer(challenge) as registry, pytest.raises(RegistryNotAllowedError):
        client_for(registry, policy([registry.host])).get_blob("x", DIGEST)
    assert internal.received == []


def test_credentials_are_not_sent_to_a_realm_on_another_host(internal: RecordingServer) -> None:
    def challenge(_: Received) -> Answer:
        realm = f"http://127.0.0.2:{internal.port}/token"
        return Answer(401, {"WWW-Authenticate": f'Bearer realm="{realm}"'})

    with RecordingServer(challenge) as registry:
        creds = Credentials("ci", "s3cret")
        with pytest.raises(RegistryNotAllowedError, match="credentials"):
            client_for(registry, policy([registry.host]), credentials=creds).get_blob("x", DIGEST)
    assert internal.received == []


def test_a_token_request_carrying_credentials_is_not_redirected_elsewhere() -> None:
    seen: list[str] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if request.url.host == "reg.example" and request.url.path == "/token":
            return httpx.Response(307, headers={"Location": "https://other.example/steal"})
        if request.url.host == "reg.example":
            realm = 'Bearer realm="https://reg.example/token"'
            return httpx.Response(401, headers={"WWW-Authenticate": realm})
        return httpx.Response(200, json={"token": "t"})

    client = RegistryClient(
        "reg.example",
        credentials=Credentials("ci", "refresh", identity_token=True),
        transport=httpx.MockTransport(registry),
        retries=0,
    )
    with pytest.raises(RegistryNotAllowedError, match="redirected"):
        client.get_blob("x", DIGEST)
    assert not any("other.example" in url for url in seen)


def test_an_error_body_is_never_put_in_the_message(internal: RecordingServer) -> None:
    with pytest.raises(RegistryError) as failed:
        client_for(internal, OutboundPolicy.unrestricted()).get_blob("x", DIGEST)
    assert "INTERNAL-SECRET" not in str(failed.value)
    assert "answered 500" in str(failed.value)
