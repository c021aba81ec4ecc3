"""What a request presents as its credential: a bearer token, or a signed body."""

from __future__ import annotations

from starlette.requests import Request

from service.auth.tokens import SIGNATURE_HEADER


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def signed_delivery(request: Request) -> str | None:
    """The body signature of a webhook delivery sent without a bearer token."""
    if bearer_token(request) is not None:
        return None
    return request.headers.get(SIGNATURE_HEADER)
