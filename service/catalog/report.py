"""An engine's JSON report, validated against the part of it Tollgate reads.

Engines' documents are third-party and grow between releases: each engine module
models only the fields it uses and ignores the rest.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from service.errors import EngineOutputError

ReportT = TypeVar("ReportT", bound=BaseModel)


def parse_report(engine: str, model: type[ReportT], raw: bytes) -> ReportT:
    """Validate the engine's stdout against the part of its report we read."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise EngineOutputError(
            f"{engine} printed a report Tollgate cannot read ({where}: {first['msg']})",
            hint=f"check that the installed {engine} version is supported",
        ) from exc
