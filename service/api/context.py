"""What every route needs, built once per app, plus the auth dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from service.api.submission import ScanSubmitter
from service.auth.tokens import Principal, Scope, TokenAuthority
from service.errors import ScopeError
from service.jobs.dispatch import Dispatcher
from service.settings import Settings
from service.store.catalogs import CatalogStore
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from service.store.webhook_events import WebhookEventStore
from service.vulndb.store import VulnStore


@dataclass
class ServiceContext:
    settings: Settings
    engine: Engine
    scans: ScanStore
    images: ImageStore
    catalogs: CatalogStore
    vulns: VulnStore
    policies: PolicyStore
    events: WebhookEventStore
    authority: TokenAuthority
    dispatcher: Dispatcher
    submitter: ScanSubmitter


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency admitting callers whose token grants ``scope`` (``admin`` grants all)."""

    def check(
        request: Request, context: Annotated[ServiceContext, Depends(get_context)]
    ) -> Principal:
        principal = context.authority.authenticate(bearer_token(request))
        if not principal.allows(scope):
            raise ScopeError(
                f"this endpoint needs the {scope.value!r} scope",
                hint=f"create a token with `tollgate token create --scope {scope.value}`",
            )
        return principal

    return check
