"""``/api/v1/images``: scanned images, their SBOMs and vulnerabilities."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from policies.decision import Decision, RuleResult
from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope
from service.errors import NotFoundError
from service.layers.model import Efficiency, LayerAnalysis, SecretFile
from service.sbom import SbomFormat, render
from service.store.images import ImageFilter, ImageSort
from service.vulndb.finding_order import FindingOrder, ordered
from service.vulndb.model import Finding, NotEvaluated, Severity

router = APIRouter(
    prefix="/api/v1/images", tags=["images"], dependencies=[Depends(require(Scope.READ))]
)

Context = Annotated[ServiceContext, Depends(get_context)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0)]


class SignaturesView(BaseModel):
    """What verified when the image was last scanned."""

    model_config = ConfigDict(from_attributes=True)

    signed_by: tuple[str, ...]
    attestations: tuple[str, ...]


class ImageView(BaseModel):
    """An image as the API shows it (read from the store's ``ImageSummary``)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    digest: str
    reference: str
    registry: str
    repository: str
    platform: str
    first_seen: datetime
    scanned_at: datetime
    last_scan_id: str | None
    packages: int
    severities: dict[str, int]
    fixable: int
    known_exploited: int
    max_epss: float | None
    policy: str | None = Field(validation_alias="policy_outcome")
    scan_state: str
    signatures: SignaturesView


class ImagePage(BaseModel):
    items: list[ImageView]
    total: int
    limit: int
    offset: int


class ImageDetail(ImageView):
    """The latest policy decision in full, the rules that fired in it, and the analysis
    of the image's layers (None for an image scanned before layers were analysed)."""

    decision: Decision | None
    fired_rules: list[RuleResult]
    not_evaluated: list[NotEvaluated]  # packages no advisory data could audit, with why
    efficiency: Efficiency | None
    secret_files: list[SecretFile]


class FindingPage(BaseModel):
    items: list[Finding]
    total: int
    limit: int
    offset: int


@router.get("", response_model=ImagePage)
def list_images(
    context: Context,
    *,
    repository: str | None = None,
    severity: Severity | None = None,
    policy: str | None = None,
    known_exploited: bool | None = None,
    sort: ImageSort = ImageSort.SCANNED,
    limit: Limit = 50,
    offset: Offset = 0,
) -> ImagePage:
    """Images, most recently scanned first (``sort``: also ``risk``, ``kev``: the most
    known-exploited vulnerabilities first, ``epss``: the highest EPSS score first, …).

    ``severity`` keeps images with a finding at or above it; ``known_exploited`` those
    holding (or not) a vulnerability in CISA's KEV catalog.
    """
    where = ImageFilter(
        repository=repository,
        min_severity=severity,
        policy_outcome=policy,
        known_exploited=known_exploited,
    )
    items, total = context.images.page(where, limit=limit, offset=offset, sort=sort)
    return ImagePage(
        items=[ImageView.model_validate(i) for i in items], total=total, limit=limit, offset=offset
    )


@router.get("/{digest}", response_model=ImageDetail)
def get_image(digest: str, context: Context) -> ImageDetail:
    image = context.images.get(digest)
    decisions = context.policies.decisions(digest)
    latest = decisions[-1] if decisions else None
    return ImageDetail(
        **ImageView.model_validate(image).model_dump(),
        decision=latest,
        fired_rules=list(latest.fired) if latest else [],
        not_evaluated=list(_not_evaluated(context, image.scan_state, digest)),
        efficiency=image.layers.efficiency if image.layers else None,
        secret_files=list(image.layers.secret_files) if image.layers else [],
    )


@router.get("/{digest}/layers", response_model=LayerAnalysis)
def get_layers(digest: str, context: Context) -> LayerAnalysis:
    """Each layer (size, files added/changed/removed, the command that made it), the
    image's efficiency as ``dive`` reports it, and credential files left in any layer."""
    image = context.images.get(digest)
    if image.layers is None:
        raise NotFoundError(
            f"the layers of {digest} were not analysed", hint="scan the image again"
        )
    return image.layers


def _not_evaluated(
    context: ServiceContext, scan_state: str, digest: str
) -> tuple[NotEvaluated, ...]:
    if scan_state != "scanned":
        return ()
    return context.pipeline.assessment(digest).not_evaluated


@router.get("/{digest}/sbom")
def get_sbom(
    digest: str,
    context: Context,
    format: SbomFormat = SbomFormat.CYCLONEDX_JSON,
) -> Response:
    return Response(image_sbom(context, digest, format), media_type=format.media_type)


def image_sbom(context: ServiceContext, digest: str, fmt: SbomFormat) -> str:
    """The stored catalog as an SBOM dated by the image's creation time, like `tollgate sbom`."""
    catalog = context.catalogs.get(digest)
    try:
        config = context.images.get(digest).config
    except NotFoundError:  # catalogued by the CLI, never scanned through the service
        config = None
    return render(catalog, fmt, created=config.created if config else None)


@router.get("/{digest}/vulnerabilities", response_model=FindingPage)
def get_vulnerabilities(
    digest: str,
    context: Context,
    *,
    severity: Severity | None = None,
    fixable: bool | None = None,
    include_suppressed: bool = True,
    sort: FindingOrder = FindingOrder.SEVERITY,
    limit: Limit = 100,
    offset: Offset = 0,
) -> FindingPage:
    """Findings of one image, worst first (``sort=severity``), known-exploited first
    (``kev``: ransomware use, then the most recently listed) or most likely exploited
    first (``epss``); ``severity`` keeps findings at or above it. Findings a VEX statement
    suppressed are listed with ``vex`` set (no rule counts them);
    ``include_suppressed=false`` leaves them out."""
    context.images.get(digest)
    findings = [
        f
        for f in context.pipeline.assessment(digest).findings
        if (severity is None or f.severity.at_least(severity))
        and (fixable is None or f.fix_available == fixable)
        and (include_suppressed or f.vex is None)
    ]
    return FindingPage(
        items=ordered(findings, sort)[offset : offset + limit],
        total=len(findings),
        limit=limit,
        offset=offset,
    )
