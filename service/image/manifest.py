"""Parse manifests, indexes and image configs (raw JSON) into typed objects; pick a platform.

This is the boundary: past it only :class:`ImageManifest`, :class:`ImageIndex`,
:class:`~service.image.model.ImageConfig` and :class:`~service.image.model.Platform` travel.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from service.errors import ImageError, UnsupportedMediaTypeError
from service.image.model import HistoryEntry, ImageConfig, Platform
from service.registry.digest import validate_digest

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_INDEX)
ALL_MANIFEST_TYPES = MANIFEST_TYPES + INDEX_TYPES
CONFIG_TYPES = (OCI_CONFIG, DOCKER_CONFIG)
LAYER_TYPES = (OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, DOCKER_LAYER_GZIP)
MAX_MANIFEST_SIZE = 4 << 20  # what Distribution itself accepts
MAX_CONFIG_SIZE = 16 << 20

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")


class Descriptor(_Doc):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    platform: Platform | None = None
    annotations: dict[str, str] = {}
    artifact_type: str | None = Field(default=None, alias="artifactType")

    @field_validator("platform", mode="before")
    @classmethod
    def _platform_fields(cls, value: Any) -> Any:
        """Keep os/architecture/variant; drop os.version, os.features and the like."""
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k in ("os", "architecture", "variant")}
        return value


class ImageManifest(_Doc):
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


class ImageIndex(_Doc):
    media_type: str
    manifests: tuple[Descriptor, ...]


def _load_json(content: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ImageError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ImageError(f"{what} is not a JSON object")
    return document


def detect_media_type(content: bytes, declared: str | None) -> str:
    """The media type of a manifest: ``declared`` if it is one we know, else from the body."""
    declared = (declared or "").split(";")[0].strip()
    if declared in ALL_MANIFEST_TYPES:
        return declared
    document = _load_json(content, "manifest")
    media_type = document.get("mediaType")
    if isinstance(media_type, str) and media_type:
        return media_type
    if document.get("schemaVersion") == 2 and "manifests" in document:
        return OCI_INDEX
    if document.get("schemaVersion") == 2 and "config" in document:
        return OCI_MANIFEST
    return declared or f"schemaVersion {document.get('schemaVersion')!r} manifest"


def parse_manifest(content: bytes, media_type: str) -> ImageManifest | ImageIndex:
    """Parse an image manifest or index; schema1 and other types are unsupported."""
    if media_type not in ALL_MANIFEST_TYPES:
        raise UnsupportedMediaTypeError(
            f"unsupported manifest media type {media_type!r}",
            hint="Tollgate reads Docker v2 schema 2 and OCI manifests/indexes; "
            "re-push the image with a current docker/buildah/skopeo",
        )
    document = _load_json(content, "manifest")
    try:
        if media_type in INDEX_TYPES:
            index = ImageIndex(media_type=media_type, manifests=document.get("manifests", ()))
            for entry in index.manifests:
                validate_digest(entry.digest)
            return index
        manifest = ImageManifest(
            media_type=media_type, config=document.get("config"), layers=document.get("layers", ())
        )
    except ValidationError as exc:
        raise ImageError(f"malformed {media_type} document: {exc.errors()[0]['msg']}") from exc
    for descriptor in (manifest.config, *manifest.layers):
        validate_digest(descriptor.digest)
    for layer in manifest.layers:
        if layer.media_type not in LAYER_TYPES:
            raise UnsupportedMediaTypeError(
                f"layer {layer.digest} has unsupported media type {layer.media_type!r}",
                hint="only tar, tar+gzip and tar+zstd layers can be scanned",
            )
    return manifest


def parse_platform(text: str) -> Platform:
    """``os/arch[/variant]`` (e.g. ``linux/arm64/v8``) as a Platform."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ImageError(
            f"invalid platform {text!r}", hint="use os/arch[/variant], e.g. linux/amd64"
        )
    variant = parts[2] if len(parts) == 3 else None
    return Platform(os=parts[0], architecture=parts[1], variant=variant)


def normalize_platform(platform: Platform) -> Platform:
    """Like containerd: architecture aliases resolved, arm64 -> v8, arm -> v7 by default."""
    arch = _ARCH_ALIASES.get(platform.architecture.lower(), platform.architecture.lower())
    variant = (platform.variant or _DEFAULT_VARIANT.get(arch) or "").lower() or None
    if arch == "amd64" and variant == "v1":
        variant = None
    return Platform(os=platform.os.lower(), architecture=arch, variant=variant)


def _arm_fallbacks(wanted: Platform) -> list[Platform]:
    """arm/v7 can run v6 and v5 images (containerd's order), best first."""
    if wanted.architecture != "arm" or not (wanted.variant or "").startswith("v"):
        return [wanted]
    level = int(wanted.variant[1:]) if wanted.variant and wanted.variant[1:].isdigit() else 0
    return [wanted.model_copy(update={"variant": f"v{n}"}) for n in range(level, 4, -1)] or [wanted]


def image_platforms(index: ImageIndex) -> list[Descriptor]:
    """The index entries that are runnable images (not attestations or unknown/unknown)."""
    return [
        entry
        for entry in index.manifests
        if entry.platform is not None
        and entry.platform.os != "unknown"
        and entry.media_type in MANIFEST_TYPES + INDEX_TYPES
    ]


def select_platform(index: ImageIndex, wanted: Platform, name: str) -> Descriptor:
    """The index entry for ``wanted``; ImageError lists the available platforms otherwise."""
    candidates = image_platforms(index)
    for accepted in _arm_fallbacks(normalize_platform(wanted)):
        for entry in candidates:
            assert entry.platform is not None
            if normalize_platform(entry.platform) == accepted:
                return entry
    available = ", ".join(str(e.platform) for e in candidates) or "none"
    raise ImageError(
        f"{name} has no image for platform {wanted}; available: {available}",
        hint="pass one of the available platforms (--platform / TOLLGATE_PLATFORM)",
    )


class _RawConfig(_Doc):
    user: str = Field(default="", alias="User")
    env: tuple[str, ...] | None = Field(default=None, alias="Env")
    entrypoint: tuple[str, ...] | None = Field(default=None, alias="Entrypoint")
    cmd: tuple[str, ...] | None = Field(default=None, alias="Cmd")
    labels: dict[str, str] | None = Field(default=None, alias="Labels")
    healthcheck: dict[str, Any] | None = Field(default=None, alias="Healthcheck")


class _RawHistory(_Doc):
    created: datetime | None = None
    created_by: str = ""
    empty_layer: bool = False


class _RawRootfs(_Doc):
    diff_ids: tuple[str, ...] = ()


class _RawImage(_Doc):
    os: str = ""
    architecture: str = ""
    variant: str | None = None
    created: datetime | None = None
    config: _RawConfig | None = None
    history: tuple[_RawHistory, ...] | None = None
    rootfs: _RawRootfs = _RawRootfs()


def parse_image_config(content: bytes) -> tuple[ImageConfig, Platform]:
    """The image config blob as an ImageConfig plus the platform it was built for."""
    try:
        raw = _RawImage.model_validate(_load_json(content, "image config"))
    except ValidationError as exc:
        raise ImageError(f"malformed image config: {exc.errors()[0]['msg']}") from exc
    run = raw.config or _RawConfig()
    test = (run.healthcheck or {}).get("Test")
    config = ImageConfig(
        user=run.user,
        env=run.env or (),
        entrypoint=run.entrypoint or (),
        cmd=run.cmd or (),
        labels=run.labels or {},
        healthcheck=tuple(str(part) for part in test) if isinstance(test, list) else None,
        created=raw.created,
        history=tuple(
            HistoryEntry(created=h.created, created_by=h.created_by, empty_layer=h.empty_layer)
            for h in raw.history or ()
        ),
        diff_ids=raw.rootfs.diff_ids,
    )
    platform = Platform(
        os=raw.os or "unknown", architecture=raw.architecture or "unknown", variant=raw.variant
    )
    return config, platform
