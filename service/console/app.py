"""The console application, mounted at ``/`` by the API application.

Every page but the sign-in page and the static assets needs a session; every response
carries a strict Content-Security-Policy (no script at all, styles from ``/static``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from service.console import admin, auth, images, overview, policies, scans, vulnerabilities
from service.console.auth import CsrfRefused, SignInRequired
from service.console.context import ConsoleContext
from service.console.rendering import SECURITY_HEADERS, STATIC_DIR, render
from service.console.session import SessionSigner, session_key
from service.errors import ConfigurationError, NotFoundError, ScopeError, TollgateError

logger = logging.getLogger(__name__)

# First match wins: subclasses before their bases.
_STATUS: tuple[tuple[type[TollgateError], int], ...] = (
    (CsrfRefused, 403),
    (ScopeError, 403),
    (NotFoundError, 404),
    (ConfigurationError, 500),
)


def _status(error: TollgateError) -> int:
    if error.transient:
        return 503
    return next((status for cls, status in _STATUS if isinstance(error, cls)), 400)


async def _error_page(request: Request, error: Exception) -> Response:
    if isinstance(error, SignInRequired):
        return RedirectResponse("/signin", status_code=303)
    assert isinstance(error, TollgateError)
    status = _status(error)
    if status >= 500:
        logger.error("console %s failed: %s", request.url.path, error)
    return render(request, "error.html", status_code=status, error=error, status=status)


def create_console(context: ConsoleContext) -> FastAPI:
    """The console over ``context``; sessions are signed with a key from its settings."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.state.console = context
    app.state.signer = SessionSigner(session_key(context.settings.webhook_secret))
    app.add_exception_handler(TollgateError, _error_page)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for module in (auth, overview, images, vulnerabilities, policies, scans, admin):
        app.include_router(module.router)
    return app
