"""Request limits, enforced before a route sees the request (a pure ASGI middleware).

A request that carries a body (POST, PUT, PATCH, DELETE) to the API (``/api/``, the Harbor
adapter's ``/harbor/``) must first present a valid token or the webhook secret (any
scope; the route still checks its own): an unauthenticated caller gets 401 before one
byte of its body is read. The web console's forms (session cookie and CSRF token, checked
by the console) are bounded the same way but authenticated by the console.

The body is then read up to its limit — ``TOLLGATE_API_MAX_BODY_BYTES``, or
``TOLLGATE_ADMISSION_MAX_BODY_BYTES`` for AdmissionReviews — and refused with 413 beyond
it (at once when ``Content-Length`` says so); a JSON body nested deeper than
:data:`MAX_JSON_DEPTH` is refused with 400. Only then is the buffered body handed on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.credentials import bearer_token, remember, signed_delivery
from service.api.errors import error_response
from service.auth.tokens import Principal, TokenAuthority
from service.errors import RequestLimitError, RequestTooLargeError, TollgateError
from service.settings import Settings

MAX_JSON_DEPTH = 64
"""Deeper than any AdmissionReview, webhook or API document we take (a Pod nests ~15)."""

ADMISSION_PREFIX = "/api/v1/admission"
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
TOKEN_PREFIXES = ("/api/", "/harbor/")  # the console authenticates its own sessions
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
_TOO_DEEP_RUN = re.compile(rb"[\[{]{%d}" % (MAX_JSON_DEPTH + 1))


@dataclass(frozen=True)
class BodyLimits:
    api: int = 1 << 20
    admission: int = 3 << 20  # the API server sends at most 3 MiB

    @classmethod
    def of(cls, settings: Settings) -> BodyLimits:
        return cls(api=settings.api_max_body_bytes, admission=settings.admission_max_body_bytes)

    def for_path(self, path: str) -> int:
        return self.admission if path.startswith(ADMISSION_PREFIX) else self.api


class RequestGuard:
    """Authenticate, then read a bounded body, then hand the request on."""

    def __init__(self, app: ASGIApp, *, authority: TokenAuthority, limits: BodyLimits) -> None:
        self._app = app
        self._authority = authority
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        request = Request(scope)
        limit = self._limits.for_path(scope["path"])
        try:
            guarded = scope["method"] in _BODY_METHODS and scope["path"].startswith(TOKEN_PREFIXES)
            signature = signed_delivery(request) if guarded else None
            if guarded and signature is None:
                remember(scope, await self._authenticate(request), by_signature=False)
            _check_declared_length(request, limit)
            body = await _read_body(receive, limit)
            if signature is not None:  # the body is the credential: bounded, then checked
                principal = self._authority.authenticate_signed(body or b"", signature)
                remember(scope, principal, by_signature=True)
            if body:
                _check_json_depth(body)
        except TollgateError as error:
            response = error_response(request, error)
            await response(scope, receive, send)
            return
        if body is not None:
            await self._app(scope, _replay(body, receive), send)

    async def _authenticate(self, request: Request) -> Principal:
        presented = bearer_token(request)
        if self._authority.verified_recently(presented):
            return self._authority.authenticate(presented)
        # a database read: off the event loop
        return await run_in_threadpool(self._authority.authenticate, presented)


def _too_large(limit: int) -> RequestTooLargeError:
    return RequestTooLargeError(
        f"the request body is larger than {limit} bytes",
        hint="send less per request (the limits are TOLLGATE_API_MAX_BODY_BYTES and "
        "TOLLGATE_ADMISSION_MAX_BODY_BYTES)",
    )


def _check_declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None when the client went away before sending it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that first hands over the buffered body, then waits as the server's."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _check_json_depth(body: bytes) -> None:
    """Refuses a body whose brackets (outside strings) nest deeper than MAX_JSON_DEPTH;
    a body that is not JSON passes (its parser judges it).

    Only C-speed byte operations: escaped backslashes and quotes are dropped, so every
    remaining quote delimits a string and the text outside strings is every other piece
    between quotes; of it the brackets are kept, then each round removes the innermost
    pairs (one level: a pair that becomes empty waits for the next round)."""
    if body.lstrip()[:1] not in (b"{", b"["):
        return
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[::2]).translate(None, _NOT_BRACKETS)
    for _ in range(MAX_JSON_DEPTH):
        if not brackets or _TOO_DEEP_RUN.search(brackets):
            break
        brackets = brackets.replace(b"[]", b"\0").replace(b"{}", b"\0").replace(b"\0", b"")
    if brackets:
        raise RequestLimitError(
            f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels (or is not JSON)",
            hint="send the document unchanged; no API document nests that deep",
        )
