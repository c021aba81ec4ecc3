"""Registry auth with a Docker identity token: the OAuth2 refresh-token grant."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import pytest

from service.errors import RegistryAuthError
from service.registry.auth import RegistryAuth
from service.registry.credentials import Credentials

REFRESH = "refresh-token-secret"
IDENTITY = Credentials("<token>", REFRESH, identity_token=True)


class TokenRegistry:
    """A registry whose token service takes only the refresh-token grant."""

    def __init__(self, challenge: str) -> None:
        self.challenge = challenge
        self.token_forms: list[dict[str, list[str]]] = []
        self.registry_auth: list[str | None] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.test":
            if request.method != "POST":
                return httpx.Response(404)
            form = parse_qs(request.content.decode())
            self.token_forms.append(form)
            if form.get("refresh_token") != [REFRESH]:
                return httpx.Response(401)
            return httpx.Response(200, json={"access_token": "access", "expires_in": 300})
        given = request.headers.get("Authorization")
        self.registry_auth.append(given)
        if given != "Bearer access":
            return httpx.Response(401, headers={"WWW-Authenticate": self.challenge})
        return httpx.Response(200)


def get(registry: TokenRegistry, credentials: Credentials) -> httpx.Response:
    auth = RegistryAuth(credentials, plain_http_ok=lambda host: False)
    with httpx.Client(transport=httpx.MockTransport(registry.handle), auth=auth) as client:
        return client.get("https://registry.test/v2/team/app/manifests/1.0")


def test_identity_token_is_exchanged_with_the_refresh_token_grant() -> None:
    registry = TokenRegistry(
        'Bearer realm="https://auth.test/token",service="reg",scope="repository:team/app:pull"'
    )
    assert get(registry, IDENTITY).status_code == 200
    [form] = registry.token_forms
    assert form["grant_type"] == ["refresh_token"]
    assert form["service"] == ["reg"] and form["scope"] == ["repository:team/app:pull"]
    assert registry.registry_auth == [None, "Bearer access"]


def test_identity_token_is_never_sent_as_basic_auth() -> None:
    registry = TokenRegistry('Basic realm="reg"')
    assert get(registry, IDENTITY).status_code == 401
    assert registry.registry_auth == [None]


def test_identity_token_is_not_sent_to_a_plain_http_token_service() -> None:
    registry = TokenRegistry('Bearer realm="http://auth.test/token",service="reg"')
    with pytest.raises(RegistryAuthError, match="plain HTTP"):
        get(registry, IDENTITY)
    assert registry.token_forms == []


def test_a_refused_identity_token_is_looked_up_again_and_exchanged_once_more() -> None:
    registry = TokenRegistry('Bearer realm="https://auth.test/token",service="reg"')
    answers = [Credentials("<token>", "stale-refresh-token", identity_token=True), IDENTITY]
    auth = RegistryAuth(lambda: answers.pop(0), plain_http_ok=lambda host: False)
    with httpx.Client(transport=httpx.MockTransport(registry.handle), auth=auth) as client:
        assert client.get("https://registry.test/v2/team/app/manifests/1.0").status_code == 200
    assert [form["refresh_token"] for form in registry.token_forms] == [
        ["stale-refresh-token"],
        [REFRESH],
    ]
    assert answers == []
