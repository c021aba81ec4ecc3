"""``/api/v1/dashboard``: fleet summary, daily trends, most widespread vulnerabilities.

Every answer reads denormalised rows (per-image counts, per-vulnerability spread),
so the cost does not grow with the number of findings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope
from service.store.advisories import FeedStateRow
from service.utc import as_utc

router = APIRouter(
    prefix="/api/v1/dashboard", tags=["dashboard"], dependencies=[Depends(require(Scope.READ))]
)

Context = Annotated[ServiceContext, Depends(get_context)]

POLICY_OUTCOMES = ("pass", "warn", "block")


class Summary(BaseModel):
    images: int
    findings: dict[str, int]
    fixable: int
    policy: dict[str, int]
    database_updated_at: datetime | None
    database_age_hours: float | None
    database_revision: int


class TrendDay(BaseModel):
    day: date
    scans_done: int
    scans_failed: int
    new_images: int


class TopVulnerability(BaseModel):
    id: str
    severity: str
    fixable: bool
    affected_images: int


def _database_updated_at(context: ServiceContext) -> datetime | None:
    with Session(context.engine) as session:
        value = session.exec(select(func.max(col(FeedStateRow.updated_at)))).one()
    return as_utc(value)


@router.get("/summary", response_model=Summary)
def summary(context: Context) -> Summary:
    totals = context.images.totals()
    updated = _database_updated_at(context)
    age = (datetime.now(UTC) - updated).total_seconds() / 3600 if updated else None
    return Summary(
        images=totals.images,
        findings=totals.findings,
        fixable=totals.fixable,
        policy={o: totals.policy.get(o, 0) for o in POLICY_OUTCOMES},
        database_updated_at=updated,
        database_age_hours=round(age, 2) if age is not None else None,
        database_revision=context.vulns.revision(),
    )


@router.get("/trends", response_model=list[TrendDay])
def trends(context: Context, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[TrendDay]:
    """One entry per day, oldest first, including days with no activity."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    scans = {d.day: d for d in context.scans.daily(since)}
    new_images = context.images.first_seen_daily(since)
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        counts = scans.get(day)
        result.append(
            TrendDay(
                day=day,
                scans_done=counts.done if counts else 0,
                scans_failed=counts.failed if counts else 0,
                new_images=new_images.get(day.isoformat(), 0),
            )
        )
    return result


@router.get("/top-vulnerabilities", response_model=list[TopVulnerability])
def top_vulnerabilities(
    context: Context, limit: Annotated[int, Query(ge=1, le=100)] = 10
) -> list[TopVulnerability]:
    return [
        TopVulnerability(
            id=v.vuln_id, severity=v.severity, fixable=v.fixable, affected_images=v.affected_images
        )
        for v in context.images.top_vulnerabilities(limit)
    ]
