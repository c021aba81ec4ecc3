"""The FastAPI application factory.

``create_app(settings)`` serves the API; scans run on Celery workers when
``TOLLGATE_BROKER_URL`` is set, otherwise in this process (embedded mode), with
the same job code either way.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cache
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
    webhooks,
)
from service.api.context import ServiceContext, require
from service.api.limits import BodyLimits, RequestGuard
from service.api.metrics import make_registry
from service.api.submission import EngineVersion, ScanSubmitter
from service.auth.tokens import Scope, TokenAuthority
from service.jobs.dispatch import Dispatcher
from service.settings import Settings
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from service.store.tokens import TokenStore
from service.store.webhook_events import WebhookEventStore
from service.vulndb.store import VulnStore

logger = logging.getLogger(__name__)


def engine_versions(settings: Settings) -> EngineVersion:
    """Each engine's version, asked once (it is part of the scan idempotency key)."""
    from service.wiring import catalogers

    engines = catalogers(settings)

    @cache
    def version(name: str) -> str:
        return engines[name].version()

    return version


def _nothing() -> None:
    """Lifecycle hook of dispatchers that need no start/stop."""


def _default_dispatcher(
    settings: Settings, engine: Engine
) -> tuple[Dispatcher, Callable[[], None], Callable[[], None]]:
    """(dispatcher, start, stop): Celery when a broker is configured, else in-process."""
    if settings.broker_url:
        from service.jobs.pull_auth import PullAuthSealer
        from workers.celery_dispatch import CeleryDispatcher
        from workers.celery_factory import make_celery

        dispatcher = CeleryDispatcher(make_celery(settings), PullAuthSealer.from_settings(settings))
        return dispatcher, _nothing, _nothing
    from workers.embedded import EmbeddedExecutor

    executor = EmbeddedExecutor(settings, engine)
    return executor, executor.start, executor.stop


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    dispatcher: Dispatcher | None = None,
    engine_version: EngineVersion | None = None,
) -> FastAPI:
    engine = engine or make_engine(settings.sqlalchemy_url)
    start, stop = _nothing, _nothing
    if dispatcher is None:
        dispatcher, start, stop = _default_dispatcher(settings, engine)
    scan_store, image_store, vuln_store = ScanStore(engine), ImageStore(engine), VulnStore(engine)
    context = ServiceContext(
        settings=settings,
        engine=engine,
        scans=scan_store,
        images=image_store,
        catalogs=CatalogStore(engine),
        vulns=vuln_store,
        policies=PolicyStore(engine),
        events=WebhookEventStore(engine),
        authority=TokenAuthority(TokenStore(engine), settings.webhook_secret),
        dispatcher=dispatcher,
        submitter=ScanSubmitter(
            scan_store,
            vuln_store,
            dispatcher,
            engine=settings.engine,
            engine_version=engine_version or engine_versions(settings),
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        start()
        try:
            yield
        finally:
            stop()

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
    app.state.metrics = make_registry(scan_store, image_store)
    errors.install(app)
    for module in (health, scans, images, webhooks, harbor, dashboard, admission, policies, tokens):
        app.include_router(module.router)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require(Scope.READ))])
    def openapi() -> dict[str, Any]:
        return app.openapi()

    return app
