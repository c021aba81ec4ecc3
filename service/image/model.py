"""Typed image domain: references, platforms and a pinned (fetched, verified) image.

Plain frozen dataclasses: they are on the path of every command, cached answers
included, which must not pay for a validation library's start-up. Values are
checked where they enter (:mod:`service.image.reference`, :mod:`service.image.manifest`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path


class Transport(StrEnum):
    REGISTRY = "registry"
    OCI_DIR = "oci-dir"
    OCI_ARCHIVE = "oci-archive"
    DOCKER_ARCHIVE = "docker-archive"


@dataclass(frozen=True, kw_only=True)
class ImageReference:
    """Where an image comes from. Registry refs use registry/repository/tag/digest;
    the file transports use path (and tag for an OCI layout's ``ref.name``)."""

    transport: Transport
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    path: str | None = None


@dataclass(frozen=True, kw_only=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)

    def as_json(self) -> dict[str, str]:
        """The OCI ``platform`` object (no null variant)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class HistoryEntry:
    created: datetime | None = None
    created_by: str = ""
    empty_layer: bool = False


@dataclass(frozen=True, kw_only=True)
class ImageConfig:
    """The parts of the OCI image config that policy and SBOMs use."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: tuple[str, ...] | None = None
    created: datetime | None = None
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class PinnedImage:
    """An image fetched, verified and laid out as an OCI layout in the cache.

    ``layout`` is a directory whose ``index.json`` names exactly ``digest``:
    engines scan it, so what was scanned is what was resolved.
    """

    reference: ImageReference
    display_name: str  # canonical reference string, e.g. 127.0.0.1:5000/app:1.0
    digest: str  # digest of the (platform) image manifest
    index_digest: str | None = None  # digest of the index it was selected from
    platform: Platform
    media_type: str
    layout: Path
    config_digest: str
    layers: tuple[str, ...]
    size: int  # config + compressed layers, bytes
    config: ImageConfig
