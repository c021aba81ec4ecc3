"""``/api/v1/webhooks``: registry push notifications become queued scans.

Answers 202 as soon as the scans are persisted and dispatched; nothing is scanned
in the request. Redelivered events (same event id) are acknowledged and ignored,
and a digest already queued or scanned maps to its existing scan.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.api.context import ServiceContext, get_context, webhook_sender
from service.api.webhook_payloads import PushedImage, distribution_pushes, harbor_pushes
from service.jobs.dispatch import Queue

logger = logging.getLogger(__name__)

router = APIRouter(
    prefix="/api/v1/webhooks", tags=["webhooks"], dependencies=[Depends(webhook_sender)]
)

Context = Annotated[ServiceContext, Depends(get_context)]


class WebhookAccepted(BaseModel):
    scans: list[str]
    duplicates: int
    ignored: int


def _enqueue(
    context: ServiceContext, source: str, pushes: list[PushedImage], ignored: int
) -> WebhookAccepted:
    scans: list[str] = []
    duplicates = 0
    for push in pushes:
        if push.event_id is not None and not context.events.first_delivery(source, push.event_id):
            duplicates += 1
            continue
        try:
            scan, _ = context.submitter.submit(
                push.reference,
                platform=None,
                source=source,
                queue=Queue.PUSH.value,
                caller=f"{source} webhook",
            )
        except Exception:
            if push.event_id is not None:
                context.events.forget(source, push.event_id)  # let the redelivery through
            raise
        scans.append(scan.id)
    logger.info(
        "%s webhook: %d scans, %d redelivered, %d ignored", source, len(scans), duplicates, ignored
    )
    return WebhookAccepted(scans=scans, duplicates=duplicates, ignored=ignored)


@router.post("/distribution", status_code=202, response_model=WebhookAccepted)
async def distribution(request: Request, context: Context) -> WebhookAccepted:
    """CNCF Distribution notifications (events.v1+json / v2+json envelopes)."""
    pushes, ignored = distribution_pushes(await request.body())
    return await run_in_threadpool(_enqueue, context, "distribution", pushes, ignored)


@router.post("/harbor", status_code=202, response_model=WebhookAccepted)
async def harbor(request: Request, context: Context) -> WebhookAccepted:
    """Harbor ``PUSH_ARTIFACT`` (Default or CloudEvents format); other events are ignored."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    pushes = harbor_pushes(await request.body(), headers)
    return await run_in_threadpool(_enqueue, context, "harbor", pushes, 0)
