"""The ``admission.k8s.io/v1`` AdmissionReview envelope, parsed strictly at the boundary.

Only the fields Tollgate reads are modelled; an envelope of another version or kind, or
one without a request ``uid``, is refused. The workload itself (``object``) stays a raw
mapping here and is parsed by :mod:`service.admission.workloads`.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = "admission.k8s.io/v1"
KIND = "AdmissionReview"
DENIED_CODE = 403


class _Read(BaseModel):
    """Fields we do not read are ignored: the API server adds new ones over time."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class GroupVersionKind(_Read):
    group: str = ""
    version: str
    kind: str


class AdmissionRequest(_Read):
    uid: str = Field(min_length=1)
    kind: GroupVersionKind
    sub_resource: str = Field(default="", alias="subResource")
    name: str = ""
    namespace: str = ""
    operation: Literal["CREATE", "UPDATE", "DELETE", "CONNECT"]
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = Field(default=None, alias="oldObject")
    dry_run: bool = Field(default=False, alias="dryRun")


class AdmissionReview(_Read):
    api_version: Literal["admission.k8s.io/v1"] = Field(alias="apiVersion")
    kind: Literal["AdmissionReview"]
    request: AdmissionRequest


class _Write(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)


class Status(_Write):
    code: int
    message: str


class AdmissionResponse(_Write):
    uid: str
    allowed: bool
    status: Status | None = None
    warnings: list[str] | None = None
    patch_type: Literal["JSONPatch"] | None = Field(default=None, alias="patchType")
    patch: str | None = None  # base64 of the JSON Patch document


class AdmissionReviewResponse(_Write):
    api_version: str = Field(default=API_VERSION, alias="apiVersion")
    kind: str = KIND
    response: AdmissionResponse


def respond(
    request: AdmissionRequest,
    *,
    allowed: bool,
    message: str | None = None,
    warnings: tuple[str, ...] = (),
    patch: list[dict[str, Any]] | None = None,
) -> AdmissionReviewResponse:
    """The answer to ``request``: a denial carries ``status`` 403 with ``message``."""
    status = None
    if message is not None:
        status = Status(code=200 if allowed else DENIED_CODE, message=message)
    encoded = None
    if patch:
        encoded = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    return AdmissionReviewResponse(
        response=AdmissionResponse(
            uid=request.uid,
            allowed=allowed,
            status=status,
            warnings=list(warnings) or None,
            patch_type="JSONPatch" if encoded else None,
            patch=encoded,
        )
    )
