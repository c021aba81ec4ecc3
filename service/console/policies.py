"""``/policies``: bundles, their versions, mappings and allowlists; admins add an allowlist
entry or expire one (each change stores the next bundle version, as the API does)."""

from __future__ import annotations

import difflib
import logging
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from policies.editing import expire_allowlist_entries, with_allowlist_entry
from policies.model import AllowlistEntry, Bundle
from service.auth.tokens import Scope
from service.console.auth import Console, Form, Signed, Viewer
from service.console.rendering import render
from service.errors import NotFoundError, PolicyError
from service.image.reference import parse_reference
from service.policy_changes import apply_bundle
from service.store.images import ImageFilter

logger = logging.getLogger(__name__)
router = APIRouter()

DRY_RUN_IMAGES = 200  # the most recently scanned images a dry run evaluates


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


@router.get("/policies/{name}/diff", response_class=HTMLResponse)
def diff(request: Request, name: str, viewer: Signed, console: Console) -> HTMLResponse:
    """What changed between two stored versions of bundle ``name`` (default: the last two)."""
    latest = console.policies.latest_version(name)
    if latest is None:
        raise NotFoundError(f"no policy bundle {name!r}", hint="see the stored ones on /policies")
    new = _version(request.query_params.get("to"), latest)
    old = _version(request.query_params.get("from"), max(new - 1, 1))
    lines = difflib.unified_diff(
        _document(console.policies.get(name, old)),
        _document(console.policies.get(name, new)),
        f"{name} v{old}",
        f"{name} v{new}",
        lineterm="",
    )
    return render(request, "policy_diff.html", viewer=viewer, name=name, lines=list(lines))


@router.get("/policies/{name}/dry-run", response_class=HTMLResponse)
def bundle_dry_run(request: Request, name: str, viewer: Signed, console: Console) -> HTMLResponse:
    """The latest version of bundle ``name`` on the most recently scanned stored images,
    beside the decision recorded for each (nothing is recorded)."""
    bundle = console.policies.get(name)
    images, total = console.images.page(ImageFilter(), limit=DRY_RUN_IMAGES, offset=0)
    rows = []
    for image in images:
        decision = console.pipeline.dry_run(bundle, image.digest, parse_reference(image.reference))
        if decision is not None:
            rows.append((image, image.policy_outcome, decision))
    changed = [row for row in rows if row[1] != row[2].outcome.value]
    return render(
        request,
        "policy_dry_run.html",
        viewer=viewer,
        bundle=bundle,
        rows=changed + [row for row in rows if row[1] == row[2].outcome.value],
        changed=len(changed),
        total=total,
    )


def _version(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.isdigit() else default


def _document(bundle: Bundle) -> list[str]:
    document = bundle.model_dump(mode="json", exclude={"version"}, exclude_defaults=True)
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True).splitlines()


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
    stored = apply_bundle(
        console.policies,
        console.dispatcher,
        bundle,
        author=viewer.principal.name,
        decides=console.pipeline.bundle,
    )
    logger.info(
        "%s changed the allowlist of %s (v%s)", viewer.principal.name, stored.name, stored.version
    )
    return RedirectResponse(
        f"/policies?changed={quote(f'{stored.name} v{stored.version}')}", status_code=303
    )
