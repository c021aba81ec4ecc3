"""The one place where Tollgate errors become HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.errors import (
    AuthError,
    ConfigurationError,
    ImageError,
    InvalidReferenceError,
    NotFoundError,
    PolicyConflictError,
    PolicyError,
    RateLimitedError,
    RegistryAuthError,
    RegistryError,
    RegistryNotAllowedError,
    RequestLimitError,
    RequestTooLargeError,
    ScopeError,
    TollgateError,
)

logger = logging.getLogger(__name__)

RETRY_AFTER_S = "5"
HARBOR_PREFIX = "/harbor/"
HARBOR_ERROR_TYPE = "application/vnd.scanner.adapter.error+json; version=1.0"

# First match wins: subclasses before their bases.
_STATUS: tuple[tuple[type[TollgateError], int], ...] = (
    (ScopeError, 403),
    (AuthError, 401),
    (NotFoundError, 404),
    (RequestTooLargeError, 413),
    (RateLimitedError, 429),
    (RequestLimitError, 400),
    (InvalidReferenceError, 400),
    (PolicyConflictError, 409),
    (PolicyError, 400),
    (ImageError, 422),
    (RegistryNotAllowedError, 403),  # the outbound policy, not the registry, refused
    (RegistryAuthError, 502),
    (RegistryError, 502),
    (ConfigurationError, 500),
)


def status_for(error: TollgateError) -> int:
    if error.transient:
        return 503
    for cls, status in _STATUS:
        if isinstance(error, cls):
            return status
    return 500


async def _handle(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TollgateError)
    return error_response(request, error)


def error_response(request: Request, error: TollgateError) -> JSONResponse:
    """The answer to a request that failed with ``error`` (the Harbor adapter's shape under
    its prefix)."""
    status = status_for(error)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER_S
    if isinstance(error, RateLimitedError):
        headers["Retry-After"] = str(error.retry_after)
    if status >= 500:
        logger.warning("%s %s failed: %s", request.method, request.url.path, error)
    if request.url.path.startswith(HARBOR_PREFIX):  # the adapter spec's ErrorResponse
        return JSONResponse(
            {"error": {"message": str(error)}},
            status_code=status,
            headers=headers,
            media_type=HARBOR_ERROR_TYPE,
        )
    return JSONResponse(
        {"error": type(error).__name__, "message": error.message, "hint": error.hint},
        status_code=status,
        headers=headers,
    )


async def _invalid_request(request: Request, error: Exception) -> JSONResponse:
    """422 naming what is wrong where, never echoing the input (it may hold credentials)."""
    assert isinstance(error, RequestValidationError)
    details = [
        {"loc": list(item.get("loc", ())), "msg": item.get("msg", ""), "type": item.get("type", "")}
        for item in error.errors()
    ]
    return JSONResponse({"detail": details}, status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(TollgateError, _handle)
    app.add_exception_handler(RequestValidationError, _invalid_request)
