"""``/policies``: bundles, their versions, mappings and allowlists; admins add an allowlist
entry or expire one (each change stores the next bundle version, as the API does)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from policies.editing import expire_allowlist_entries, with_allowlist_entry
from policies.model import AllowlistEntry, Bundle
from service.auth.tokens import Scope
from service.console.auth import Console, Form, Signed, Viewer
from service.console.rendering import render
from service.errors import PolicyError

logger = logging.getLogger(__name__)
router = APIRouter()


@router.get("/policies", response_class=HTMLResponse)
def policies(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    versions = console.policies.versions()
    names = sorted({v.name for v in versions})
    return render(
        request,
        "policies.html",
        viewer=viewer,
        bundles=[console.policies.get(name) for name in names],
        versions={name: [v for v in versions if v.name == name] for name in names},
        today=datetime.now(UTC).date(),
        notice=request.query_params.get("changed"),
    )


@router.post("/policies/{name}/allowlist")
def add_entry(name: str, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.ADMIN)
    try:
        entry = AllowlistEntry(
            vulnerability=form.get("vulnerability", "").strip(),
            package=form.get("package", "").strip() or None,
            repository=form.get("repository", "").strip() or "*",
            expires=date.fromisoformat(form["expires"]) if form.get("expires") else None,
            reason=form.get("reason", "").strip(),
            author=viewer.principal.name,
        )
    except (ValidationError, ValueError) as error:
        raise PolicyError(
            f"the allowlist entry is incomplete or malformed: {error.__class__.__name__}",
            hint="give a vulnerability id, a reason and an expiry date as YYYY-MM-DD",
        ) from None
    bundle = console.policies.get(name)
    return _apply(console, with_allowlist_entry(bundle, form.get("policy") or None, entry), viewer)


@router.post("/policies/{name}/allowlist/expire")
def expire_entry(name: str, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.ADMIN)
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    bundle = expire_allowlist_entries(
        console.policies.get(name),
        form.get("policy") or None,
        form.get("vulnerability", ""),
        form.get("package") or None,
        on=yesterday,
    )
    return _apply(console, bundle, viewer)


def _apply(console: Console, bundle: Bundle, viewer: Viewer) -> Response:
    stored = console.policies.apply(bundle, author=viewer.principal.name, now=datetime.now(UTC))
    logger.info(
        "%s changed the allowlist of %s (v%s)", viewer.principal.name, stored.name, stored.version
    )
    return RedirectResponse(
        f"/policies?changed={quote(f'{stored.name} v{stored.version}')}", status_code=303
    )
