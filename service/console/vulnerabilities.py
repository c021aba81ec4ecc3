"""``/vulnerabilities/{id}``: one advisory across the fleet; ``/search``: a CVE/GHSA id, a
package name or a purl."""

from __future__ import annotations

import re
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.console.auth import Console, Signed
from service.console.rendering import render
from service.store.images import ImageFilter, ImageSort

router = APIRouter()

AFFECTED_SHOWN = 50
ADMISSIONS_SHOWN = 50
_ADVISORY_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9:._-]*$")


@router.get("/vulnerabilities/{vuln_id}", response_class=HTMLResponse)
def vulnerability(request: Request, vuln_id: str, viewer: Signed, console: Console) -> HTMLResponse:
    spread = console.images.spread(vuln_id)
    affected, total = console.images.page(
        ImageFilter(vulnerability=vuln_id), limit=AFFECTED_SHOWN, offset=0, sort=ImageSort.RISK
    )
    findings = console.catalogs.findings_of(vuln_id, [i.digest for i in affected])
    first = next((f[0] for f in findings.values() if f), None)
    return render(
        request,
        "vulnerability.html",
        status_code=200 if spread else 404,
        viewer=viewer,
        vuln_id=vuln_id,
        spread=spread,
        affected=affected,
        total=total,
        findings=findings,
        first=first,
        admissions=console.admissions.of_vulnerability(vuln_id, ADMISSIONS_SHOWN),
    )


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, viewer: Signed, console: Console) -> Response:
    query = request.query_params.get("q", "").strip()
    if query and _ADVISORY_ID.match(query) and not query.lower().startswith("pkg:"):
        aliases = sorted(console.vulns.aliases(query) | console.vulns.aliases(query.upper()))
        for candidate in (query, query.upper(), *aliases):
            if console.images.spread(candidate):
                return RedirectResponse(f"/vulnerabilities/{quote(candidate)}", status_code=303)
    found = console.catalogs.holding_package(query, AFFECTED_SHOWN) if query else {}
    images = console.images.summaries(found)  # catalogued by the CLI only: not listed
    holders = {digest: packages for digest, packages in found.items() if digest in images}
    return render(request, "search.html", viewer=viewer, q=query, holders=holders, images=images)
