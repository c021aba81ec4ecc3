"""Registry authentication as an ``httpx.Auth`` flow: anonymous, Basic and Bearer tokens.

On a 401 the ``WWW-Authenticate`` challenge says what to do: ``Basic`` -> resend with the
configured credentials; ``Bearer realm=..,service=..,scope=..`` -> get a token from the
realm (with credentials when we have them; an identity token is exchanged with OAuth2's
refresh-token grant, as Docker does) and resend. Tokens are cached per scope until
they expire. Credentials and tokens are never logged.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from service.errors import RegistryAuthError, RegistryUnavailableError
from service.registry.credentials import Credentials

logger = logging.getLogger(__name__)

AUTH_HINT = "check credentials in ~/.docker/config.json or TOLLGATE_REGISTRY_AUTH"
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")
_DEFAULT_TOKEN_LIFETIME_S = 60
_EXPIRY_MARGIN_S = 10


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercased: "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """Parse ``Bearer realm="…",service="…",scope="…"`` (or ``Basic realm="…"``)."""
    scheme, _, rest = header.strip().partition(" ")
    if not scheme:
        return None
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return Challenge(scheme=scheme.lower(), params=params)


def scope_for(request: httpx.Request) -> str:
    """The token scope a request needs, e.g. ``repository:team/app:pull``."""
    match = _REPO_PATH.match(request.url.path)
    if match is None:
        return ""
    action = "pull" if request.method in ("GET", "HEAD") else "pull,push"
    return f"repository:{match.group('name')}:{action}"


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float


class RegistryAuth(httpx.Auth):
    """One per registry host; safe to reuse across requests (the token cache lives here).

    Only token-service answers are read here: registry responses stay streamed, so a
    multi-gigabyte layer is never held in memory (httpx's ``requires_response_body``
    would read every response, layers included). Sync clients only.
    """

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        plain_http_ok: Callable[[str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._credentials = credentials
        self._plain_http_ok = plain_http_ok
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._use_basic = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = scope_for(request)
        self._authorize(request, scope)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return
        if challenge.scheme == "basic":
            if self._credentials is None or self._credentials.identity_token or self._use_basic:
                return  # nothing (new) to offer: the caller turns the 401 into an error
            self._use_basic = True
        else:
            token_response = yield self._token_request(challenge, scope)
            self._store_token(token_response, scope)
        self._authorize(request, scope)
        yield request

    def _authorize(self, request: httpx.Request, scope: str) -> None:
        token = self._tokens.get(scope)
        if token is not None and token.expires_at > self._clock():
            request.headers["Authorization"] = f"Bearer {token.value}"
        elif self._use_basic and self._credentials is not None:
            request.headers["Authorization"] = _basic_header(self._credentials)

    def _token_request(self, challenge: Challenge, scope: str) -> httpx.Request:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError("registry sent a Bearer challenge without a realm")
        url = httpx.URL(realm)
        params = {k: v for k, v in challenge.params.items() if k in ("service", "scope")}
        params.setdefault("scope", scope)
        if not params["scope"]:
            del params["scope"]
        headers = {}
        if self._credentials is not None:
            if url.scheme != "https" and not self._plain_http_ok(url.netloc.decode()):
                raise RegistryAuthError(
                    f"token service {url.host} is plain HTTP: refusing to send credentials",
                    hint="the registry's token realm must use https",
                )
            if self._credentials.identity_token:
                return _refresh_token_request(url, params, self._credentials.password)
            headers["Authorization"] = _basic_header(self._credentials)
        return httpx.Request("GET", url, params=params, headers=headers)

    def _store_token(self, response: httpx.Response, scope: str) -> None:
        if response.status_code in (401, 403):
            raise RegistryAuthError(
                f"token service refused access ({response.status_code})", hint=AUTH_HINT
            )
        if response.status_code >= 500 or response.status_code == 429:
            raise RegistryUnavailableError(
                f"token service answered {response.status_code}", hint="retry later"
            )
        try:
            response.read()
            body = response.json()
            value = body.get("token") or body.get("access_token")
            lifetime = int(body.get("expires_in") or _DEFAULT_TOKEN_LIFETIME_S)
        except (ValueError, AttributeError, TypeError) as exc:
            raise RegistryAuthError("token service answered something that is not a token") from exc
        if response.status_code != 200 or not isinstance(value, str) or not value:
            raise RegistryAuthError(
                f"token service answered {response.status_code} without a token", hint=AUTH_HINT
            )
        expires_at = self._clock() + max(lifetime - _EXPIRY_MARGIN_S, 1)
        self._tokens[scope] = _Token(value, expires_at)
        logger.debug("got a registry token for scope %r", scope)


def _refresh_token_request(url: httpx.URL, params: dict[str, str], token: str) -> httpx.Request:
    """Docker's identity token is an OAuth2 refresh token: the token service's POST form
    exchanges it for an access token (Distribution's spec/auth/oauth)."""
    form = {
        **params,
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "tollgate",
    }
    return httpx.Request("POST", url, data=form)


def _basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()
