"""What the admission log keeps of an answered review: one event per distinct image, with
the workload that named it and the digest that was decided."""

from __future__ import annotations

from datetime import datetime

from service.admission.controller import AdmissionResult
from service.admission.review import AdmissionRequest
from service.store.admissions import AdmissionEvent


def admission_events(
    request: AdmissionRequest, result: AdmissionResult, now: datetime
) -> list[AdmissionEvent]:
    """The events of ``result`` (none for a review no image was judged in: a deletion, an
    exempt namespace). A Pod a controller creates has no name yet: its generateName."""
    metadata = (request.object or {}).get("metadata") or {}
    name = request.name or str(metadata.get("generateName") or "")
    events: dict[str, AdmissionEvent] = {}
    for verdict in result.images:
        decided = verdict.decision.digest if verdict.decision else verdict.digest
        events.setdefault(
            verdict.use.image,
            AdmissionEvent(
                created_at=now,
                uid=request.uid,
                operation=request.operation,
                namespace=request.namespace,
                kind=request.kind.kind,
                name=name,
                image=verdict.use.image,
                digest=decided,
                state=verdict.state.value,
                allowed=result.allowed,
                reason=verdict.reason or None,
            ),
        )
    return list(events.values())
