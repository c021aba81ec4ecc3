"""``/api/v1/scans``: submit a scan, follow its state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope
from service.store.scans import Scan
from workers.dispatch import Queue

router = APIRouter(prefix="/api/v1/scans", tags=["scans"])


class ScanCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image: str
    platform: str | None = None


class ScanAccepted(BaseModel):
    id: str
    status: str


class ScanView(BaseModel):
    id: str
    image: str
    platform: str | None
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

    @classmethod
    def of(cls, scan: Scan) -> ScanView:
        return cls(
            id=scan.id,
            image=scan.reference,
            platform=scan.platform,
            status=scan.status.value,
            digest=scan.digest,
            engine=scan.engine,
            engine_version=scan.engine_version,
            db_revision=scan.db_revision,
            attempts=scan.attempts,
            created_at=scan.created_at,
            started_at=scan.started_at,
            finished_at=scan.finished_at,
            duration=scan.duration,
            timings=scan.timings,
            findings=scan.findings,
            error=scan.error,
        )


Context = Annotated[ServiceContext, Depends(get_context)]


@router.post(
    "", status_code=202, response_model=ScanAccepted, dependencies=[Depends(require(Scope.SCAN))]
)
def create_scan(body: ScanCreate, context: Context, response: Response) -> ScanAccepted:
    scan, _ = context.submitter.submit(
        body.image, platform=body.platform, source="api", queue=Queue.PUSH.value
    )
    response.headers["Location"] = f"/api/v1/scans/{scan.id}"
    return ScanAccepted(id=scan.id, status=scan.status.value)


@router.get("/{scan_id}", response_model=ScanView, dependencies=[Depends(require(Scope.READ))])
def get_scan(scan_id: str, context: Context) -> ScanView:
    return ScanView.of(context.scans.get(scan_id))
