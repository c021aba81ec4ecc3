"""``/admin/tokens`` and ``/admin/vex`` (admin scope only, to read as well): API tokens
(list, create — the token is shown on that one answer and never again —, revoke) and
the VEX documents applied to every image (list, add by pasting or uploading, delete).

The same functions as the API's ``/api/v1/tokens`` and ``/api/v1/vex`` do the work.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service import vex_documents
from service.auth.tokens import IssuedToken, Scope, default_lifetime, parse_lifetime
from service.console.auth import Console, Form, Signed, Viewer
from service.console.rendering import render
from service.errors import NotFoundError, PolicyError

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/admin")


def _tokens_page(
    request: Request, viewer: Viewer, console: Console, created: IssuedToken | None = None
) -> HTMLResponse:
    return render(
        request,
        "tokens.html",
        status_code=201 if created else 200,
        viewer=viewer,
        tokens=console.authority.tokens(),
        scopes=list(Scope),
        created=created,
        default_lifetime=default_lifetime(console.settings),
    )


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    viewer.require(Scope.ADMIN)
    return _tokens_page(request, viewer, console)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(request: Request, viewer: Signed, form: Form, console: Console) -> HTMLResponse:
    """The new token is in this answer only (``Cache-Control: no-store``, no redirect)."""
    viewer.require(Scope.ADMIN)
    lifetime_text = form.get("lifetime", "").strip()
    lifetime = (
        parse_lifetime(lifetime_text) if lifetime_text else default_lifetime(console.settings)
    )
    scopes = frozenset(s for s in Scope if form.get(f"scope_{s.value}"))
    name = form.get("name", "").strip() or "console"
    issued = console.authority.issue(scopes, name[:200], lifetime)
    logger.info("%s created token %s (%s)", viewer.principal.name, issued.id, name)
    return _tokens_page(request, viewer, console, created=issued)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: int, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.ADMIN)
    if not console.authority.revoke(token_id):
        raise NotFoundError(f"there is no token {token_id}", hint="see them on /admin/tokens")
    logger.info("%s revoked token %s", viewer.principal.name, token_id)
    return RedirectResponse("/admin/tokens", status_code=303)


@router.get("/vex", response_class=HTMLResponse)
def vex(request: Request, viewer: Signed, console: Console) -> HTMLResponse:
    viewer.require(Scope.ADMIN)
    return render(
        request,
        "vex.html",
        viewer=viewer,
        documents=vex_documents.documents(console.vex),
        notice=request.query_params.get("changed"),
    )


@router.post("/vex")
def add_vex(viewer: Signed, form: Form, console: Console) -> Response:
    """A document uploaded as a file, or else pasted."""
    viewer.require(Scope.ADMIN)
    content = form.get("file", "").strip() or form.get("content", "").strip()
    if not content:
        raise PolicyError("no VEX document was given", hint="paste one or choose a file")
    name = form.get("name", "").strip() or "vex"
    vex_documents.add_document(
        console.vex, console.dispatcher, name, content, author=viewer.principal.name
    )
    return RedirectResponse("/admin/vex?changed=added", status_code=303)


@router.post("/vex/{document_id}/delete")
def delete_vex(document_id: str, viewer: Signed, form: Form, console: Console) -> Response:
    viewer.require(Scope.ADMIN)
    vex_documents.delete_document(
        console.vex, console.dispatcher, document_id, author=viewer.principal.name
    )
    return RedirectResponse("/admin/vex?changed=deleted", status_code=303)
