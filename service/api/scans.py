"""``/api/v1/scans``: submit a scan, follow its state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Principal, Scope
from service.jobs.dispatch import Queue
from service.store.scans import ScanStatus

router = APIRouter(prefix="/api/v1/scans", tags=["scans"])


class ScanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str
    platform: str | None = None


class ScanAccepted(BaseModel):
    id: str
    status: str


class ScanView(BaseModel):
    """A scan as the API shows it (read from the store's ``Scan``)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    image: str = Field(validation_alias="reference")
    platform: str | None
    source: str  # api, distribution, harbor, harbor-adapter, admission
    status: str
    digest: str | None
    engine: str
    engine_version: str
    db_revision: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    timings: dict[str, float]
    findings: int | None
    error: str | None


Context = Annotated[ServiceContext, Depends(get_context)]


@router.post("", status_code=202, response_model=ScanAccepted)
def create_scan(
    body: ScanCreate,
    context: Context,
    response: Response,
    caller: Annotated[Principal, Depends(require(Scope.SCAN))],
) -> ScanAccepted:
    """Queue a scan; each token may queue ``TOLLGATE_SCAN_RATE_PER_MINUTE`` new ones (429
    with ``Retry-After`` beyond)."""
    scan, _ = context.submitter.submit(
        body.image,
        platform=body.platform,
        source="api",
        queue=Queue.PUSH.value,
        caller=f"token {caller.name}",
    )
    response.headers["Location"] = f"/api/v1/scans/{scan.id}"
    return ScanAccepted(id=scan.id, status=scan.status.value)


class ScanPage(BaseModel):
    items: list[ScanView]


@router.get("", response_model=ScanPage, dependencies=[Depends(require(Scope.READ))])
def list_scans(
    context: Context,
    *,
    digest: str | None = None,
    status: ScanStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ScanPage:
    """Scans, newest first: of one image (``digest``), in one ``status`` (queued, running,
    done, failed)."""
    items = context.scans.recent(digest=digest, status=status, limit=limit)
    return ScanPage(items=[ScanView.model_validate(scan) for scan in items])


@router.get("/{scan_id}", response_model=ScanView, dependencies=[Depends(require(Scope.READ))])
def get_scan(scan_id: str, context: Context) -> ScanView:
    return ScanView.model_validate(context.scans.get(scan_id))
