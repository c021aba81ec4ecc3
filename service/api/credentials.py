"""What a request presents as its credential: a bearer token, or a signed body; and
who the request guard found it to be, so that a route does not check it again."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Scope

from service.auth.tokens import SIGNATURE_HEADER, Principal

# keys of the request's server-side state (never anything the client sends): who the
# guard found the bearer token, or the signed body, to be
_BEARER_PRINCIPAL = "tollgate.principal.token"
_SIGNED_PRINCIPAL = "tollgate.principal.signature"


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def signed_delivery(request: Request) -> str | None:
    """The body signature of a webhook delivery sent without a bearer token."""
    if bearer_token(request) is not None:
        return None
    return request.headers.get(SIGNATURE_HEADER)


def remember(scope: Scope, principal: Principal, *, by_signature: bool) -> None:
    """The guard authenticated this request as ``principal`` (by its token or by its
    signed body: only webhook routes take the latter)."""
    key = _SIGNED_PRINCIPAL if by_signature else _BEARER_PRINCIPAL
    scope.setdefault("state", {})[key] = principal


def authenticated(request: Request, *, by_signature: bool) -> Principal | None:
    """Who the guard authenticated this request as, by token or by signature, if it did."""
    key = _SIGNED_PRINCIPAL if by_signature else _BEARER_PRINCIPAL
    principal = request.scope.get("state", {}).get(key)
    return principal if isinstance(principal, Principal) else None
