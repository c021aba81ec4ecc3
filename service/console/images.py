"""``/images``: filtered, sorted, paginated in SQL; ``/images/{digest}``: one image with its
decision, findings, packages, layers, signatures, SBOM downloads and a rescan."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.tokens import Scope
from service.console.auth import Console, Form, Signed
from service.console.rendering import render
from service.errors import NotFoundError
from service.image.reference import parse_reference
from service.jobs.dispatch import Queue
from service.sbom import SbomFormat
from service.sbom import render as render_sbom
from service.store.images import SEVERITIES, ImageFilter, ImageSort
from service.vulndb.finding_order import FindingOrder, ordered
from service.vulndb.model import Severity

logger = logging.getLogger(__name__)
router = APIRouter()

PAGE_SIZE = 50
PACKAGES_SHOWN = 500
OUTCOMES = ("pass", "warn", "block")
SCAN_STATES = ("scanned", "failed")

E = TypeVar("E", bound=StrEnum)


def _choice(raw: str | None, kind: type[E]) -> E | None:
    """``raw`` as a member of ``kind``; None for an empty or unknown value (a filter form
    sends every field, empty ones too)."""
    try:
        return kind(raw) if raw else None
    except ValueError:
        return None


def image_filter(request: Request) -> ImageFilter:
    params = request.query_params
    signed = params.get("signed")
    return ImageFilter(
        registry=params.get("registry") or None,
        repository=params.get("repository") or None,
        tag=params.get("tag") or None,
        min_severity=_choice(params.get("severity"), Severity),
        policy_outcome=params.get("outcome") if params.get("outcome") in OUTCOMES else None,
        signed={"yes": True, "no": False}.get(signed) if signed else None,
        vulnerability=params.get("vulnerability") or None,
        scan_state=params.get("state") if params.get("state") in SCAN_STATES else None,
        known_exploited={"yes": True, "no": False}.get(params.get("exploited") or ""),
    )


@router.get("/images", response_class=HTMLResponse)
def images(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    where = image_filter(request)
    sort = _choice(request.query_params.get("sort"), ImageSort) or ImageSort.SCANNED
    raw_page = request.query_params.get("page", "1")
    page = max(int(raw_page), 1) if raw_page.isdigit() else 1
    items, total = console.images.page(
        where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, sort=sort
    )
    return render(
        request,
        "images.html",
        viewer=viewer,
        items=items,
        total=total,
        page=page,
        pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
        where=where,
        sort=sort,
        sorts=list(ImageSort),
        severities=[s.value for s in SEVERITIES],
        outcomes=OUTCOMES,
    )


@router.get("/images/{digest}", response_class=HTMLResponse)
def image(request: Request, digest: str, viewer: Signed, console: Console) -> HTMLResponse:
    summary = console.images.get(digest)
    decision = console.policies.latest_decision(digest)
    order = _choice(request.query_params.get("findings"), FindingOrder) or FindingOrder.SEVERITY
    try:  # as every rule sees them: VEX applied, unauditable packages listed
        assessment = console.pipeline.assessment(digest)
        findings = ordered(list(assessment.findings), order)
        not_evaluated = list(assessment.not_evaluated)
    except NotFoundError:  # a failed scan stores no catalog
        findings, not_evaluated = [], []
    query = request.query_params.get("package", "").strip().lower()
    try:
        packages = [
            p
            for p in console.catalogs.get(digest).packages
            if not query or query in p.name.lower() or query in (p.purl or "").lower()
        ]
    except NotFoundError:  # a failed scan stores no catalog
        packages = []
    try:
        bundle = console.policies.get(console.settings.policy_bundle)
    except NotFoundError:  # no scan decided anything yet: the bundle is seeded by the first
        current_run = None
    else:
        current_run = console.pipeline.dry_run(bundle, digest, parse_reference(summary.reference))
    current = current_run or decision  # what the allowlists as they stand now accept
    allowlisted = {(a.vulnerability, a.package) for a in current.allowlisted} if current else set()
    return render(
        request,
        "image.html",
        viewer=viewer,
        image=summary,
        decision=decision,
        dry_run=current_run,
        findings=findings,
        finding_order=order,
        finding_orders=list(FindingOrder),
        not_evaluated=not_evaluated,
        allowlisted=allowlisted,
        packages=packages[:PACKAGES_SHOWN],
        packages_total=len(packages),
        package_query=query,
        formats=list(SbomFormat),
    )


@router.get("/images/{digest}/sbom")
def sbom(request: Request, digest: str, viewer: Signed, console: Console) -> Response:
    fmt = _choice(request.query_params.get("format"), SbomFormat) or SbomFormat.CYCLONEDX_JSON
    config = console.images.get(digest).config
    document = render_sbom(
        console.catalogs.get(digest), fmt, created=config.created if config else None
    )
    name = f"{digest.replace(':', '-')}.{fmt.value}.json"
    return Response(
        document,
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/images/{digest}/rescan")
def rescan(digest: str, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.SCAN)
    image = console.images.get(digest)
    scan, created = console.submitter.submit(
        image.reference, platform=image.platform, source="console", queue=Queue.PUSH.value
    )
    logger.info(
        "%s rescanned %s: scan %s (new: %s)", viewer.principal.name, digest, scan.id, created
    )
    return RedirectResponse(f"/scans?submitted={scan.id}", status_code=303)
