"""Jinja2 templates (autoescaped: every user-controlled string renders as text) and the
security headers of every console response."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def _bytes(n: int) -> str:
    """``n`` bytes for a reader: 512 B, 1.4 MB (decimal units, as dive and docker show)."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("kB", "MB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} GB"


_environment = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_environment.filters["path"] = lambda value: quote(str(value), safe="")
_environment.filters["name"] = lambda reference: str(reference).split("@", 1)[0]
_environment.filters["short"] = lambda digest: str(digest).split(":")[-1][:12]
_environment.filters["bytes"] = _bytes
_environment.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M") if moment else ""


def _query(request: Request, **changes: Any) -> str:
    """The current query string with ``changes`` (None removes a parameter)."""
    params = dict(request.query_params)
    params.update({k: str(v) for k, v in changes.items() if v is not None})
    for name in [k for k, v in changes.items() if v is None]:
        params.pop(name, None)
    return "?" + urlencode({k: v for k, v in params.items() if v != ""})


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    page = _environment.get_template(template).render(
        request=request,
        path=request.url.path,
        query=lambda **changes: _query(request, **changes),
        **values,
    )
    return HTMLResponse(page, status_code=status_code, headers={"Cache-Control": "no-store"})
