"""``/api/v1/policies`` (bundles and their allowlists), evaluation of a stored scan, and
the decision audit trail ``/api/v1/decisions``.

Bundles are versioned: every change (a new document, an allowlist entry added or
removed) stores a new version, so past decisions stay explainable; a change to the bundle
the service decides with decides again on every stored image (in the background).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from policies.decision import Decision
from policies.loader import parse_bundle
from policies.model import AllowlistEntry, Bundle, Policy
from service.api.admission import Parts
from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Principal, Scope
from service.errors import NotFoundError, PolicyError
from service.image.reference import parse_reference
from service.utc import as_utc

logger = logging.getLogger(__name__)
router = APIRouter(tags=["policies"])

Context = Annotated[ServiceContext, Depends(get_context)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
READ = [Depends(require(Scope.READ))]
BUNDLE_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")


class PolicyVersionView(BaseModel):
    name: str
    version: int
    created_at: datetime
    author: str


class Applied(BaseModel):
    name: str
    version: int


class AllowlistView(BaseModel):
    policy: str
    entry: AllowlistEntry


class AllowlistCreate(BaseModel):
    """An allowlist entry for ``policy`` (the bundle's default policy when absent)."""

    model_config = ConfigDict(extra="forbid")

    policy: str | None = None
    entry: AllowlistEntry


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str


@router.get("/api/v1/policies", response_model=list[PolicyVersionView], dependencies=READ)
def list_policies(context: Context) -> list[PolicyVersionView]:
    """Every stored version of every bundle."""
    return [PolicyVersionView(**vars(v)) for v in context.policies.versions()]


@router.get("/api/v1/policies/{name}", dependencies=READ)
def get_policy(name: str, context: Context, version: int | None = None) -> dict[str, Any]:
    return context.policies.get(name, version).model_dump(mode="json")


@router.put(
    "/api/v1/policies/{name}",
    status_code=201,
    response_model=Applied,
    openapi_extra={"requestBody": {"content": {t: {} for t in BUNDLE_TYPES}}},
)
async def put_policy(name: str, request: Request, context: Context, admin: Admin) -> Applied:
    """Store the bundle in the body (YAML or JSON) as the next version of ``name``."""
    text = (await request.body()).decode("utf-8", errors="replace")
    bundle = parse_bundle(text, source="request body")
    if bundle.name != name:
        raise PolicyError(
            f"the bundle in the body is named {bundle.name!r}, not {name!r}",
            hint=f"PUT it to /api/v1/policies/{bundle.name} or rename it",
        )
    return _apply(context, bundle, admin)


@router.delete("/api/v1/policies/{name}", status_code=204)
def delete_policy(name: str, context: Context, admin: Admin) -> None:
    """Delete every version of bundle ``name`` (decisions made with it stay auditable)."""
    deleted = context.policies.delete(name)
    logger.info("%s deleted policy %s (%d versions)", admin.name, name, deleted)


@router.get(
    "/api/v1/policies/{name}/allowlist", response_model=list[AllowlistView], dependencies=READ
)
def get_allowlist(name: str, context: Context) -> list[AllowlistView]:
    bundle = context.policies.get(name)
    return [AllowlistView(policy=p.name, entry=e) for p in bundle.policies for e in p.allowlist]


@router.post("/api/v1/policies/{name}/allowlist", status_code=201, response_model=Applied)
def add_allowlist_entry(
    name: str, body: AllowlistCreate, context: Context, admin: Admin
) -> Applied:
    bundle = context.policies.get(name)
    policy = _policy(bundle, body.policy or bundle.default)
    changed = policy.model_copy(update={"allowlist": (*policy.allowlist, body.entry)})
    return _apply(context, _replace(bundle, changed), admin)


@router.delete("/api/v1/policies/{name}/allowlist", response_model=Applied)
def remove_allowlist_entries(
    name: str,
    context: Context,
    admin: Admin,
    *,
    vulnerability: str,
    package: str | None = None,
    policy: str | None = None,
) -> Applied:
    """Remove the entries for ``vulnerability`` (and ``package``, when given)."""
    bundle = context.policies.get(name)
    target = _policy(bundle, policy or bundle.default)
    kept = tuple(
        e
        for e in target.allowlist
        if not (e.vulnerability == vulnerability and package in (None, e.package))
    )
    if len(kept) == len(target.allowlist):
        raise NotFoundError(
            f"policy {target.name!r} of {name!r} has no allowlist entry for {vulnerability}",
            hint=f"list them with GET /api/v1/policies/{name}/allowlist",
        )
    return _apply(context, _replace(bundle, target.model_copy(update={"allowlist": kept})), admin)


@router.post("/api/v1/policies/{name}/evaluate", dependencies=READ)
def evaluate_image(
    name: str, body: EvaluateRequest, context: Context, parts: Parts
) -> dict[str, Any]:
    """Evaluate the stored scan of ``image`` with bundle ``name`` (a dry run: nothing is
    recorded), as every other entry point decides: VEX applied, the image's config and
    verified signatures included."""
    ref = parse_reference(body.image)
    digest = parts.resolver.digest(ref)
    verdict = context.pipeline.evaluate(digest, ref, bundle=name, record=False)
    if verdict is None:
        platform = parts.resolver.platform_digest(ref, digest)
        if platform != digest:
            verdict = context.pipeline.evaluate(platform, ref, bundle=name, record=False)
    if verdict is None:
        raise NotFoundError(
            f"no stored scan of {body.image} ({digest})",
            hint="scan it first with POST /api/v1/scans, then evaluate again",
        )
    return verdict.decision.model_dump(mode="json")


@router.get("/api/v1/decisions", response_model=list[Decision], dependencies=READ)
def list_decisions(
    context: Context,
    digest: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Decision]:
    """Recorded decisions, newest first (``since``: evaluated at or after, ISO 8601)."""
    return context.policies.query_decisions(digest=digest, since=as_utc(since), limit=limit)


def _policy(bundle: Bundle, name: str) -> Policy:
    for policy in bundle.policies:
        if policy.name == name:
            return policy
    raise NotFoundError(
        f"bundle {bundle.name!r} has no policy {name!r}",
        hint=f"use one of {', '.join(p.name for p in bundle.policies)}",
    )


def _replace(bundle: Bundle, policy: Policy) -> Bundle:
    policies = tuple(policy if p.name == policy.name else p for p in bundle.policies)
    return bundle.model_copy(update={"policies": policies})


def _apply(context: ServiceContext, bundle: Bundle, admin: Principal) -> Applied:
    """Store the next version; stored images are decided again when the service decides
    with this bundle."""
    stored = context.policies.apply(bundle, author=admin.name, now=datetime.now(UTC))
    assert stored.version is not None
    if stored.name == context.pipeline.bundle:
        context.dispatcher.redecide(f"policy bundle {stored.name} v{stored.version}")
    return Applied(name=stored.name, version=stored.version)
