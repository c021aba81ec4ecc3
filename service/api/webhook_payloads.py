"""Registry notification payloads, parsed at the boundary into :class:`PushedImage` s.

* CNCF Distribution envelopes (``application/vnd.docker.distribution.events.v1+json``
  and ``v2+json``): ``{"events": [...]}``; only ``push`` of a manifest or index counts.

Pushes of cosign's signatures, attestations and SBOMs (tags ``sha256-<hex>.sig``,
``.att``, ``.sbom``) are not images to scan: they are ignored in both formats.
* Harbor ``PUSH_ARTIFACT``: the Default format (``type``/``event_data``) and the
  CloudEvents format (``specversion``/``type: harbor.artifact.pushed``/``data``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.errors import InvalidReferenceError

MANIFEST_MEDIA_TYPES = frozenset(
    {
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    }
)
HARBOR_PUSH_TYPES = frozenset({"PUSH_ARTIFACT", "harbor.artifact.pushed"})
# Where cosign stores what it attaches to an image: not an image to scan.
_COSIGN_ATTACHMENT_TAG = re.compile(r"^sha256-[0-9a-f]{64}\.(sig|att|sbom)$")


def is_cosign_attachment(tag: str | None) -> bool:
    return tag is not None and _COSIGN_ATTACHMENT_TAG.match(tag) is not None


@dataclass(frozen=True)
class PushedImage:
    event_id: str | None  # for de-duplicating redeliveries
    registry: str
    repository: str
    digest: str
    tag: str | None

    @property
    def reference(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        return f"{self.registry}/{self.repository}{tag}@{self.digest}"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Target(_Lenient):
    media_type: str = Field("", alias="mediaType")
    digest: str = ""
    repository: str = ""
    url: str = ""
    tag: str | None = None


class _Request(_Lenient):
    host: str = ""


class _DistributionEvent(_Lenient):
    id: str = ""
    action: str = ""
    target: _Target = _Target()
    request: _Request = _Request()


class _Envelope(_Lenient):
    events: list[_DistributionEvent]


class _HarborResource(_Lenient):
    digest: str = ""
    tag: str | None = None
    resource_url: str = ""


class _HarborRepository(_Lenient):
    repo_full_name: str = ""


class _HarborData(_Lenient):
    resources: list[_HarborResource] = []
    repository: _HarborRepository = _HarborRepository()


class _HarborDefault(_Lenient):
    type: str
    event_data: _HarborData


class _HarborCloudEvent(_Lenient):
    id: str
    type: str
    data: _HarborData


def _invalid(what: str, error: ValidationError) -> InvalidReferenceError:
    return InvalidReferenceError(
        f"the {what} payload is malformed: {error.__class__.__name__}",
        hint="send the registry's notification body unchanged",
    )


def distribution_pushes(body: bytes) -> tuple[list[PushedImage], int]:
    """The manifest/index pushes in an envelope, and how many events were ignored."""
    try:
        envelope = _Envelope.model_validate_json(body)
    except ValidationError as error:
        raise _invalid("Distribution notification", error) from error
    pushes = []
    for event in envelope.events:
        target = event.target
        if (
            event.action != "push"
            or target.media_type not in MANIFEST_MEDIA_TYPES
            or not target.digest
            or not target.repository
            or is_cosign_attachment(target.tag)
        ):
            continue
        host = event.request.host or urlsplit(target.url).netloc
        if not host:
            continue
        pushes.append(
            PushedImage(
                event_id=event.id or None,
                registry=host,
                repository=target.repository,
                digest=target.digest,
                tag=target.tag,
            )
        )
    return pushes, len(envelope.events) - len(pushes)


def harbor_pushes(body: bytes, headers: dict[str, str]) -> list[PushedImage]:
    """Artifacts pushed, from either Harbor payload format (other events give [])."""
    try:
        if b'"specversion"' in body:
            event = _HarborCloudEvent.model_validate_json(body)
            event_type, event_id, data = event.type, event.id, event.data
        elif "ce-type" in headers:  # CloudEvents binary mode: attributes in headers
            data = _HarborData.model_validate_json(body)
            event_type, event_id = headers["ce-type"], headers.get("ce-id", "")
        else:
            default = _HarborDefault.model_validate_json(body)
            event_type, event_id, data = default.type, "", default.event_data
    except ValidationError as error:
        raise _invalid("Harbor webhook", error) from error
    if event_type not in HARBOR_PUSH_TYPES:
        return []
    pushes = []
    for resource in data.resources:
        host, _, _ = resource.resource_url.partition("/")
        if (
            not resource.digest
            or not host
            or not data.repository.repo_full_name
            or is_cosign_attachment(resource.tag)
        ):
            continue
        pushes.append(
            PushedImage(
                event_id=f"{event_id}:{resource.digest}" if event_id else None,
                registry=host,
                repository=data.repository.repo_full_name,
                digest=resource.digest,
                tag=resource.tag,
            )
        )
    return pushes
