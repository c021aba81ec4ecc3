"""Which images a workload runs, and where each one sits in the object (a JSON Pointer).

Pods (containers, initContainers, ephemeralContainers, image volumes), Deployments,
ReplicaSets, StatefulSets, DaemonSets, Jobs and CronJobs. The pod spec is parsed
strictly for the fields read here: an image that is not a non-empty string is an error,
so a malformed object can never slip through with its images unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import TollgateError


class WorkloadError(TollgateError):
    """The admitted object is not a workload Tollgate can read."""


class _Read(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _Container(_Read):
    name: str = ""
    image: str = Field(min_length=1)


class _ImageSource(_Read):
    reference: str = Field(min_length=1)


class _Volume(_Read):
    name: str = ""
    image: _ImageSource | None = None


class _PodSpec(_Read):
    containers: tuple[_Container, ...] = ()
    init_containers: tuple[_Container, ...] = Field(default=(), alias="initContainers")
    ephemeral_containers: tuple[_Container, ...] = Field(default=(), alias="ephemeralContainers")
    volumes: tuple[_Volume, ...] = ()


@dataclass(frozen=True)
class ImageUse:
    """One image reference in the object: ``pointer`` is where a patch replaces it."""

    image: str
    pointer: str
    container: str  # container or volume name, for messages


# kind -> path (from the object root) to the pod template's spec
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}

SUPPORTED_KINDS = frozenset(_POD_SPEC_PATHS)


def image_uses(kind: str, obj: Mapping[str, Any]) -> list[ImageUse]:
    """Every image ``obj`` (of ``kind``) runs; [] for kinds that run none."""
    path = _POD_SPEC_PATHS.get(kind)
    if path is None:
        return []
    raw: Any = obj
    for key in path:
        raw = raw.get(key) if isinstance(raw, Mapping) else None
    if raw is None:
        raise WorkloadError(
            f"the {kind} has no {'.'.join(path)}",
            hint="send the whole object in the AdmissionReview (a complete manifest)",
        )
    try:
        spec = _PodSpec.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in (*path, *first["loc"]))
        raise WorkloadError(
            f"cannot read the {kind}'s images: {where}: {first['msg']}",
            hint="every container needs an image string",
        ) from error
    base = "/" + "/".join(path)
    uses = [
        ImageUse(c.image, f"{base}/{field}/{i}/image", c.name)
        for field, containers in (
            ("containers", spec.containers),
            ("initContainers", spec.init_containers),
            ("ephemeralContainers", spec.ephemeral_containers),
        )
        for i, c in enumerate(containers)
    ]
    uses += [
        ImageUse(v.image.reference, f"{base}/volumes/{i}/image/reference", v.name)
        for i, v in enumerate(spec.volumes)
        if v.image is not None
    ]
    return uses


def new_image_uses(
    kind: str, obj: Mapping[str, Any], old: Mapping[str, Any] | None
) -> list[ImageUse]:
    """The uses of images that ``old`` (the object before an UPDATE) did not run already."""
    uses = image_uses(kind, obj)
    if old is None:
        return uses
    before = {use.image for use in image_uses(kind, old)}
    return [use for use in uses if use.image not in before]
