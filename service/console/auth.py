"""Sign-in with an API token, sign-out, the signed-in viewer of a page and CSRF checks.

A page needs a session whose token still grants ``read``; an action also needs its
scope (``scan`` for rescans and retries, ``admin`` for allowlists, tokens and VEX) and
the form's CSRF token. Forms are ``application/x-www-form-urlencoded``, or
``multipart/form-data`` where a file is uploaded (read here with the standard library's
MIME parser: text fields and text files only).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from service.auth.tokens import Principal, Scope, hash_token
from service.console.context import ConsoleContext
from service.console.rendering import render
from service.console.session import SESSION_COOKIE, SIGNIN_COOKIE, SessionSigner
from service.errors import AuthError, ScopeError

logger = logging.getLogger(__name__)
router = APIRouter()

_MAX_FORM_BYTES = 1 << 20  # a VEX document (the API's body limit applies first)


class SignInRequired(AuthError):
    """No valid session: the console answers with the sign-in page."""


class CsrfRefused(AuthError):
    """A state-changing form without its session's CSRF token (HTTP 403)."""


def get_console(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


def get_signer(request: Request) -> SessionSigner:
    signer: SessionSigner = request.app.state.signer
    return signer


Console = Annotated[ConsoleContext, Depends(get_console)]
Signer = Annotated[SessionSigner, Depends(get_signer)]


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    csrf: str  # the CSRF token every form of this session carries

    def may(self, scope: Scope) -> bool:
        return self.principal.allows(scope)

    def require(self, scope: Scope) -> None:
        if not self.may(scope):
            raise ScopeError(
                f"this action needs the {scope.value!r} scope; "
                f"the token of {self.principal.name!r} does not grant it",
                hint=f"sign in with a token created by `tollgate token create --scope {scope}`",
            )


def viewer(request: Request, console: Console, signer: Signer) -> Viewer:
    cookie = request.cookies.get(SESSION_COOKIE)
    claims = signer.read(cookie)
    if cookie is None or claims is None:
        raise SignInRequired("sign in to see this page", hint="paste an API token")
    try:
        principal = console.authority.authenticate_digest(claims.token_hash)
    except AuthError:
        raise SignInRequired(
            "the token of this session was revoked", hint="sign in again"
        ) from None
    if not principal.allows(Scope.READ):
        raise SignInRequired("the token of this session lacks the read scope", hint="")
    return Viewer(principal, signer.csrf_token(cookie))


Signed = Annotated[Viewer, Depends(viewer)]


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a form, a file's as its text (the last value of a repeated name wins)."""
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise AuthError("the form is too large", hint="send less than 1 MiB")
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return _multipart_fields(content_type, body)
    return dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))


def _multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=HTTP).parsebytes(header + body)
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields


async def checked_form(request: Request, signed: Signed, signer: Signer) -> dict[str, str]:
    """The fields of a state-changing form, refused without the session's CSRF token."""
    fields = await form_fields(request)
    if not signer.csrf_valid(request.cookies.get(SESSION_COOKIE), fields.get("csrf")):
        raise CsrfRefused("the form's CSRF token is missing or wrong", hint="reload the page")
    return fields


Form = Annotated[dict[str, str], Depends(checked_form)]


def _signin_page(
    request: Request, signer: SessionSigner, error: str | None = None, status: int = 200
) -> Response:
    cookie = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        status_code=status,
        csrf=signer.csrf_token(cookie),
        error=error,
    )
    _set_cookie(request, response, SIGNIN_COOKIE, cookie, max_age=3600)
    return response


@router.get("/signin")
def signin_form(request: Request, signer: Signer) -> Response:
    return _signin_page(request, signer)


@router.post("/signin")
async def signin(request: Request, console: Console, signer: Signer) -> Response:
    fields = await form_fields(request)
    if not signer.csrf_valid(request.cookies.get(SIGNIN_COOKIE), fields.get("csrf")):
        return _signin_page(request, signer, "The form expired: sign in again.", 403)
    token = fields.get("token", "").strip()
    try:
        principal = console.authority.authenticate(token)
    except AuthError:
        return _signin_page(request, signer, "This token is not valid.", 401)
    if not principal.allows(Scope.READ):
        return _signin_page(request, signer, "This token does not grant the read scope.", 403)
    logger.info("console sign-in by %s", principal.name)
    response = RedirectResponse("/", status_code=303)
    session = signer.issue(hash_token(token))
    _set_cookie(request, response, SESSION_COOKIE, session, max_age=signer.ttl_seconds)
    response.delete_cookie(SIGNIN_COOKIE, path="/")
    return response


@router.post("/signout")
def signout(form: Form) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _set_cookie(
    request: Request, response: Response, name: str, value: str, *, max_age: int
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
