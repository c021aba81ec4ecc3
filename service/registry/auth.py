"""Registry authentication as an ``httpx.Auth`` flow: anonymous, Basic and Bearer tokens.

On a 401 the ``WWW-Authenticate`` challenge says what to do: ``Basic`` -> resend with the
configured credentials; ``Bearer realm=..,service=..,scope=..`` -> get a token from the
realm (with credentials when we have them; an identity token is exchanged with OAuth2's
refresh-token grant, as Docker does) and resend. Tokens are cached per scope until
they expire. Credentials and tokens are never logged.

Credentials come from a :data:`~service.registry.credentials.CredentialSource`, asked once
when the auth is built and again when the registry (Basic) or its token service (401 or
403) refuses the credentials in use: if the answer differs, the request is retried once
with it. A long-running process thereby follows a credential helper's renewed short-lived
token without restarting; credentials that did not change still fail as before.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from service.errors import RegistryAuthError, RegistryNotAllowedError, RegistryUnavailableError
from service.registry.credentials import Credentials, CredentialSource

logger = logging.getLogger(__name__)

AUTH_HINT = "check credentials in ~/.docker/config.json or TOLLGATE_REGISTRY_AUTH"
_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:manifests|blobs|tags|referrers)/")
_DEFAULT_TOKEN_LIFETIME_S = 60
# Marks a token request carrying credentials with the host they are meant for.
_CREDENTIALS_FOR = "tollgate.credentials_for"
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
        credentials: Credentials | CredentialSource | None,
        *,
        plain_http_ok: Callable[[str], bool],
        realm_ok: Callable[[httpx.URL], bool] = lambda _: True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``credentials``: fixed ones (None: anonymous), or a source asked again when the
        registry refuses the ones it gave. ``realm_ok``: whether they may go to a token
        realm (the outbound policy's answer)."""
        if callable(credentials):
            self._source: CredentialSource | None = credentials
            self._credentials = credentials()
        else:
            self._source = None
            self._credentials = credentials
        self._plain_http_ok = plain_http_ok
        self._realm_ok = realm_ok
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._use_basic = False

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        scope = scope_for(request)
        sent = self._authorize(request, scope)
        response = yield request
        if response.status_code != 401:
            return
        challenge = parse_challenge(response.headers.get("WWW-Authenticate", ""))
        if challenge is None or challenge.scheme not in ("basic", "bearer"):
            return
        if challenge.scheme == "bearer":
            yield from self._fetch_token(challenge, scope)
        else:
            if sent is None:  # the first Basic challenge: offer the credentials
                if _basic_credentials(self._credentials) is None:
                    return  # nothing to offer: the caller turns the 401 into an error
                self._use_basic = True
                sent = self._authorize(request, scope)
                response = yield request
                if response.status_code != 401:
                    return
            if not (self._renewed(sent) and _basic_credentials(self._credentials) is not None):
                return  # nothing new to offer
        self._authorize(request, scope)
        yield request

    def _fetch_token(
        self, challenge: Challenge, scope: str
    ) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = self._credentials
        response = yield self._token_request(challenge, scope, credentials)
        if response.status_code in (401, 403) and self._renewed(credentials):
            response = yield self._token_request(challenge, scope, self._credentials)
        self._store_token(response, scope)

    def _renewed(self, refused: Credentials | None) -> bool:
        """After ``refused`` were refused: True when the source now gives other credentials.
        Anonymous requests and fixed credentials have nothing to renew."""
        if refused is None or self._source is None:
            return False
        if self._credentials == refused:  # (else another request renewed them already)
            self._credentials = self._source()
        if self._credentials == refused:
            return False
        logger.info("registry refused the credentials in use; retrying with renewed ones")
        return True

    def _authorize(self, request: httpx.Request, scope: str) -> Credentials | None:
        """Sets the request's authorization; returns the credentials sent as Basic auth."""
        token = self._tokens.get(scope)
        if token is not None and token.expires_at > self._clock():
            request.headers["Authorization"] = f"Bearer {token.value}"
            return None
        basic = _basic_credentials(self._credentials) if self._use_basic else None
        if basic is not None:
            request.headers["Authorization"] = _basic_header(basic)
        return basic

    def _token_request(
        self, challenge: Challenge, scope: str, credentials: Credentials | None
    ) -> httpx.Request:
        realm = challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError("registry sent a Bearer challenge without a realm")
        url = httpx.URL(realm)
        params = {k: v for k, v in challenge.params.items() if k in ("service", "scope")}
        params.setdefault("scope", scope)
        if not params["scope"]:
            del params["scope"]
        headers = {}
        if credentials is not None:
            if url.scheme != "https" and not self._plain_http_ok(url.netloc.decode()):
                raise RegistryAuthError(
                    f"token service {url.host} is plain HTTP: refusing to send credentials",
                    hint="the registry's token realm must use https",
                )
            if not self._realm_ok(url):
                raise RegistryNotAllowedError(
                    f"the registry's token service is on another host ({url.host}): "
                    "refusing to send the registry's credentials there",
                    hint=f"name {url.host} in TOLLGATE_ALLOWED_REGISTRIES if it is the "
                    "registry's token service",
                )
            extensions = {_CREDENTIALS_FOR: url.netloc.decode()}
            if credentials.identity_token:
                return _refresh_token_request(url, params, credentials.password, extensions)
            headers["Authorization"] = _basic_header(credentials)
            return httpx.Request("GET", url, params=params, headers=headers, extensions=extensions)
        return httpx.Request("GET", url, params=params)

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


def keep_credentials_home(request: httpx.Request) -> None:
    """A client ``request`` hook (it sees every redirect): a token request carrying
    credentials is never redirected to another host (a 307 would resend the body)."""
    home = request.extensions.get(_CREDENTIALS_FOR)
    if home is not None and home != request.url.netloc.decode():
        raise RegistryNotAllowedError(
            f"the token service redirected a request carrying credentials to "
            f"{request.url.host}: refusing to follow",
            hint="the registry's token realm must answer itself",
        )


def _refresh_token_request(
    url: httpx.URL, params: dict[str, str], token: str, extensions: dict[str, str]
) -> httpx.Request:
    """Docker's identity token is an OAuth2 refresh token: the token service's POST form
    exchanges it for an access token (Distribution's spec/auth/oauth)."""
    form = {
        **params,
        "grant_type": "refresh_token",
        "refresh_token": token,
        "client_id": "tollgate",
    }
    return httpx.Request("POST", url, data=form, extensions=extensions)


def _basic_credentials(credentials: Credentials | None) -> Credentials | None:
    """Credentials that may go out as Basic auth: never an identity token."""
    return None if credentials is None or credentials.identity_token else credentials


def _basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()
