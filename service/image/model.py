"""Typed image domain: references, platforms and a pinned (fetched, verified) image."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path

from pydantic import Field

from service.model_base import FrozenModel


class Transport(StrEnum):
    REGISTRY = "registry"
    OCI_DIR = "oci-dir"
    OCI_ARCHIVE = "oci-archive"
    DOCKER_ARCHIVE = "docker-archive"


class ImageReference(FrozenModel):
    """Where an image comes from. Registry refs use registry/repository/tag/digest;
    the file transports use path (and tag for an OCI layout's ``ref.name``)."""

    transport: Transport
    registry: str | None = None
    repository: str | None = None
    tag: str | None = None
    digest: str | None = None
    path: str | None = None


class Platform(FrozenModel):
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        parts = [self.os, self.architecture] + ([self.variant] if self.variant else [])
        return "/".join(parts)


class HistoryEntry(FrozenModel):
    created: datetime | None = None
    created_by: str = ""
    empty_layer: bool = False


class ImageConfig(FrozenModel):
    """The parts of the OCI image config that policy and SBOMs use."""

    user: str = ""
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    labels: dict[str, str] = Field(default_factory=dict)
    healthcheck: tuple[str, ...] | None = None
    created: datetime | None = None
    history: tuple[HistoryEntry, ...] = ()
    diff_ids: tuple[str, ...] = ()


class PinnedImage(FrozenModel):
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
