"""What every route needs, built once per app, plus the auth dependency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.api.credentials import authenticated, bearer_token, signed_delivery
from service.auth.tokens import Principal, Scope, TokenAuthority
from service.errors import ScopeError
from service.jobs.dispatch import Dispatcher
from service.jobs.submission import ScanSubmitter
from service.store.admissions import AdmissionLog
from service.store.webhook_events import WebhookEventStore
from service.wiring import Components


@dataclass
class ServiceContext(Components):
    """The pipeline's collaborators (built by :mod:`service.wiring`) plus what only the API
    needs: webhook deliveries, the admission log, token checks and the scan queue."""

    events: WebhookEventStore
    admissions: AdmissionLog
    authority: TokenAuthority
    dispatcher: Dispatcher
    submitter: ScanSubmitter


def get_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.context
    return context


async def webhook_sender(
    request: Request, context: Annotated[ServiceContext, Depends(get_context)]
) -> Principal:
    """A registry webhook's sender: the webhook secret (or a webhook-scoped token) as a
    bearer token, or a body signed with the webhook secret."""
    signature = signed_delivery(request)
    if signature is None:
        return require(Scope.WEBHOOK)(request, context)
    guarded = authenticated(request, by_signature=True)  # the request guard checked it
    if guarded is not None:
        return guarded
    return context.authority.authenticate_signed(await request.body(), signature)


def require(scope: Scope) -> Callable[..., Principal]:
    """A dependency admitting callers whose token grants ``scope`` (``admin`` grants all)."""

    def check(
        request: Request, context: Annotated[ServiceContext, Depends(get_context)]
    ) -> Principal:
        principal = authenticated(request, by_signature=False) or (
            context.authority.authenticate(bearer_token(request))
        )
        if not principal.allows(scope):
            raise ScopeError(
                f"this endpoint needs the {scope.value!r} scope",
                hint=f"create a token with `tollgate token create --scope {scope.value}`",
            )
        return principal

    return check
