"""``/api/v1/admission``: the Kubernetes validating and mutating admission webhooks.

Both answer an ``admission.k8s.io/v1`` AdmissionReview with the same ``uid``; the
mutating one adds a JSON Patch pinning every admitted tag to its digest. The admission
collaborators (resolver, stored verdicts, controller) are built once when the app
starts and kept on ``app.state.admission``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool

from policies.decision import Decision
from service.admission.controller import AdmissionController, AdmissionResult, AdmissionSettings
from service.admission.log import AdmissionRecorder, admission_events
from service.admission.patch import pin_patch
from service.admission.resolver import DigestResolver
from service.admission.review import (
    AdmissionRequest,
    AdmissionReview,
    AdmissionReviewResponse,
    respond,
)
from service.admission.scans import QueuedScans
from service.admission.stored import StoredVerdicts
from service.api.context import ServiceContext, get_context, require
from service.api.credentials import bearer_token
from service.auth.tokens import Principal, Scope
from service.image.manifest import parse_platform
from service.image.model import ImageReference
from service.registry.factory import RegistryClientFactory
from service.wiring import admission_registries


@dataclass
class AdmissionParts:
    controller: AdmissionController
    resolver: DigestResolver
    verdicts: StoredVerdicts
    recorder: AdmissionRecorder  # the admission log's writer


def build_parts(context: ServiceContext, registries: RegistryClientFactory) -> AdmissionParts:
    settings = context.settings
    resolver = DigestResolver(
        registries,
        ttl=settings.admission_tag_ttl_seconds,
        platform=parse_platform(settings.platform),
    )
    bundle = settings.admission_bundle

    def evaluate(digest: str, ref: ImageReference) -> Decision | None:
        verdict = context.pipeline.evaluate(digest, ref, bundle=bundle, trigger="admission")
        return None if verdict is None else verdict.decision

    verdicts = StoredVerdicts(context.gate, context.policies, evaluate, bundle=bundle)
    controller = AdmissionController(
        resolver,
        verdicts,
        QueuedScans(context.submitter, context.scans),
        AdmissionSettings.of(settings),
    )
    return AdmissionParts(controller, resolver, verdicts, AdmissionRecorder(context.admissions))


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    context: ServiceContext = app.state.context
    registries = admission_registries(context.settings)
    app.state.admission = parts = build_parts(context, registries)
    parts.recorder.start()
    try:
        yield
    finally:
        parts.recorder.close()
        registries.close()


async def get_parts(request: Request) -> AdmissionParts:
    parts: AdmissionParts = request.app.state.admission
    return parts


Parts = Annotated[AdmissionParts, Depends(get_parts)]
_require_webhook = require(Scope.WEBHOOK)


async def webhook_caller(request: Request) -> Principal:
    """``require(Scope.WEBHOOK)``, on the event loop when the token needs no database read."""
    context = get_context(request)
    if context.authority.verified_recently(bearer_token(request)):
        return _require_webhook(request, context)
    return await run_in_threadpool(_require_webhook, request, context)


async def _review(parts: AdmissionParts, request: AdmissionRequest) -> AdmissionResult:
    """The answer; its events are queued for the admission log."""
    result = parts.controller.review_cached(request)
    if result is None:
        result = await run_in_threadpool(parts.controller.review, request)
    parts.recorder.add(admission_events(request, result, datetime.now(UTC)))
    return result


router = APIRouter(
    prefix="/api/v1/admission",
    tags=["admission"],
    dependencies=[Depends(webhook_caller)],
    lifespan=_lifespan,
)


@router.post("", response_model=AdmissionReviewResponse, response_model_exclude_none=True)
async def validate(review: AdmissionReview, parts: Parts) -> AdmissionReviewResponse:
    """Admit or deny: ``status.message`` names each image and the rules that blocked it."""
    result = await _review(parts, review.request)
    return respond(
        review.request, allowed=result.allowed, message=result.message, warnings=result.warnings
    )


@router.post("/mutate", response_model=AdmissionReviewResponse, response_model_exclude_none=True)
async def mutate(review: AdmissionReview, parts: Parts) -> AdmissionReviewResponse:
    """As the validating webhook, plus a JSON Patch pinning each admitted tag to its digest."""
    result = await _review(parts, review.request)
    return respond(
        review.request,
        allowed=result.allowed,
        message=result.message,
        warnings=result.warnings,
        patch=pin_patch(result),
    )
