"""``/api/v1/admissions``: the admission log (what the cluster asked to run and the answer),
the same events the console's scans and vulnerability pages show."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope
from service.store.admissions import AdmissionEvent

router = APIRouter(
    prefix="/api/v1/admissions", tags=["admission"], dependencies=[Depends(require(Scope.READ))]
)

Context = Annotated[ServiceContext, Depends(get_context)]


@router.get("", response_model=list[AdmissionEvent])
def admission_events(
    context: Context,
    vulnerability: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AdmissionEvent]:
    """The newest events first; ``vulnerability``: only images holding it (a CVE, GHSA or
    other advisory id), as their stored findings hold it now."""
    if vulnerability:
        return context.admissions.of_vulnerability(vulnerability, limit)
    return context.admissions.recent(limit)
