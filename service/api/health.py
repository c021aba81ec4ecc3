"""``/healthz`` and ``/readyz`` (open: probes send no token), ``/metrics`` (read scope).

``/readyz`` says only whether each dependency is reachable, never why not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope

router = APIRouter(tags=["health"])

Context = Annotated[ServiceContext, Depends(get_context)]


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(context: Context) -> JSONResponse:
    try:
        with context.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        database = True
    except SQLAlchemyError:
        database = False
    broker = context.dispatcher.reachable()
    ready = database and broker
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "database": database, "broker": broker},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", dependencies=[Depends(require(Scope.READ))])
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
