"""``/scans``: queued, running and failed scans (with their reasons and a retry), the
decision log and the admission log."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.auth.tokens import Scope
from service.console.auth import Console, Form, Signed
from service.console.rendering import render
from service.jobs.dispatch import Queue
from service.store.scans import ScanStatus

logger = logging.getLogger(__name__)
router = APIRouter()

SHOWN = 50


@router.get("/scans", response_class=HTMLResponse)
def scans(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    return render(
        request,
        "scans.html",
        viewer=viewer,
        counts=console.scans.counts_by_status(),
        lists={
            status: console.scans.recent(status=status, limit=SHOWN)
            for status in (ScanStatus.QUEUED, ScanStatus.RUNNING, ScanStatus.FAILED)
        },
        decisions=console.policies.query_decisions(limit=SHOWN),
        admissions=console.admissions.recent(SHOWN),
        submitted=request.query_params.get("submitted"),
    )


@router.post("/scans/{scan_id}/retry")
def retry(scan_id: str, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.SCAN)
    failed = console.scans.get(scan_id)
    if failed.status is not ScanStatus.FAILED:  # retried already, or never failed
        return RedirectResponse(f"/scans?submitted={scan_id}", status_code=303)
    scan, _ = console.submitter.submit(
        failed.reference, platform=failed.platform, source="console", queue=Queue.PUSH.value
    )
    logger.info("%s retried scan %s as %s", viewer.principal.name, scan_id, scan.id)
    return RedirectResponse(f"/scans?submitted={scan.id}", status_code=303)
