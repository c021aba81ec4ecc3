"""The mutating answer: a JSON Patch pinning every admitted tag to the digest judged.

``app:1.4`` becomes ``app:1.4@sha256:…`` (the tag stays for people reading the spec;
the runtime pulls by digest), so what runs is exactly what Tollgate admitted.
"""

from __future__ import annotations

from typing import Any

from service.admission.controller import AdmissionResult


def pin_patch(result: AdmissionResult) -> list[dict[str, Any]]:
    """``replace`` operations for every image named by tag; [] when denied or all pinned."""
    if not result.allowed:
        return []
    return [
        {"op": "replace", "path": v.use.pointer, "value": f"{v.use.image}@{v.digest}"}
        for v in result.images
        if v.digest is not None and v.use.pointer and "@" not in v.use.image
    ]
