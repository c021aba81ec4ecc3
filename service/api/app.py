"""The FastAPI application factory.

``create_app(settings)`` serves the API over the collaborators :mod:`service.wiring`
builds; scans run on Celery workers when ``TOLLGATE_BROKER_URL`` is set, otherwise in
this process (embedded mode), with the same job code either way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

from fastapi import Depends, FastAPI
from sqlalchemy.engine import Engine

from service.api import (
    admission,
    dashboard,
    errors,
    harbor,
    health,
    images,
    policies,
    scans,
    tokens,
    vex,
    webhooks,
)
from service.api.context import ServiceContext, require
from service.api.limits import BodyLimits, RequestGuard
from service.api.metrics import make_registry
from service.auth.tokens import Scope, TokenAuthority
from service.console.app import create_console
from service.jobs.dispatch import Dispatcher
from service.jobs.submission import EngineVersion
from service.registry.outbound import OutboundPolicy
from service.settings import Settings
from service.store.admissions import AdmissionLog
from service.store.tokens import TokenStore
from service.store.webhook_events import WebhookEventStore
from service.wiring import components, service_jobs

logger = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    dispatcher: Dispatcher | None = None,
    engine_version: EngineVersion | None = None,
) -> FastAPI:
    built = components(settings, engine, outbound=OutboundPolicy.from_settings(settings))
    jobs = service_jobs(built, dispatcher=dispatcher, engine_version=engine_version)
    context = ServiceContext(
        **{field.name: getattr(built, field.name) for field in fields(built)},
        events=WebhookEventStore(built.engine),
        admissions=AdmissionLog(built.engine),
        authority=TokenAuthority(TokenStore(built.engine), settings.webhook_secret),
        dispatcher=jobs.dispatcher,
        submitter=jobs.submitter,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        jobs.start()
        try:
            yield
        finally:
            jobs.stop()
            context.close()

    app = FastAPI(
        title="Tollgate",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # served below, behind a token like everything but /healthz
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RequestGuard, authority=context.authority, limits=BodyLimits.of(settings))
    app.state.context = context
    app.state.metrics = make_registry(built.scans, built.images, settings, jobs.submitter.rate)
    errors.install(app)
    for module in (
        health,
        scans,
        images,
        webhooks,
        harbor,
        dashboard,
        admission,
        policies,
        vex,
        tokens,
    ):
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require(Scope.READ))])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    app.mount("/", create_console(context))  # the web console; after every API route
    return app
