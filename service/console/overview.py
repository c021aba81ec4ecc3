"""``/``: the fleet at a glance, from the same queries as ``/api/v1/dashboard``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service import dashboard
from service.console.auth import Console, Signed
from service.console.charts import decision_chart, findings_chart, severity_bars, trend_chart
from service.console.rendering import render
from service.store.images import ImageFilter, ImageSort

router = APIRouter()

TREND_DAYS = 30
TOP = 10


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    summary = dashboard.summary(console.images, console.scans, console.vulns)
    days = dashboard.trends(
        console.scans,
        console.images,
        console.policies,
        console.fleet,
        TREND_DAYS,
        findings_now=summary.findings,  # the fleet's totals are read once
    )
    riskiest, _ = console.images.page(ImageFilter(), limit=TOP, offset=0, sort=ImageSort.RISK)
    return render(
        request,
        "overview.html",
        viewer=viewer,
        summary=summary,
        trend=trend_chart(days),
        decisions=decision_chart(days),
        findings=findings_chart(days),
        days=days,
        severities=severity_bars(summary.findings),
        top=dashboard.top_vulnerabilities(console.images, TOP),
        riskiest=riskiest,
    )
