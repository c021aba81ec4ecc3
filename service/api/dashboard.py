"""``/api/v1/dashboard``: fleet summary, daily trends, most widespread vulnerabilities
(the queries live in ``service.dashboard``, shared with the web console)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service import dashboard
from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope
from service.dashboard import Summary, TopVulnerability, TrendDay
from service.store.images import VulnOrder

router = APIRouter(
    prefix="/api/v1/dashboard", tags=["dashboard"], dependencies=[Depends(require(Scope.READ))]
)

Context = Annotated[ServiceContext, Depends(get_context)]


@router.get("/summary", response_model=Summary)
def summary(context: Context) -> Summary:
    return dashboard.summary(context.images, context.scans, context.vulns)


@router.get("/trends", response_model=list[TrendDay])
def trends(context: Context, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[TrendDay]:
    """One entry per day, oldest first, including days with no activity."""
    return dashboard.trends(context.scans, context.images, context.policies, context.fleet, days)


@router.get("/top-vulnerabilities", response_model=list[TopVulnerability])
def top_vulnerabilities(
    context: Context,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    sort: VulnOrder = VulnOrder.AFFECTED,
) -> list[TopVulnerability]:
    """``sort``: ``affected`` (in the most images first), ``kev`` (known-exploited first)
    or ``epss`` (the highest EPSS score first)."""
    return dashboard.top_vulnerabilities(context.images, limit, sort)
