"""Parse manifests, indexes and image configs (raw JSON) into typed objects; pick a platform.

This is the boundary: past it only :class:`ImageManifest`, :class:`ImageIndex`,
:class:`~service.image.model.ImageConfig` and :class:`~service.image.model.Platform` travel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from service.errors import ImageError, InvalidReferenceError, UnsupportedMediaTypeError
from service.image.digest import validate_digest
from service.image.model import HistoryEntry, ImageConfig, Platform

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_INDEX = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
LAYER_HEAD = len(ZSTD_MAGIC)  # the first bytes of a layer blob that tell its compression
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


@dataclass(frozen=True, kw_only=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    artifact_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class ImageManifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True, kw_only=True)
class ImageIndex:
    media_type: str
    manifests: tuple[Descriptor, ...]


class _Fields:
    """Typed reads of one JSON object of a document; a wrong type is an ImageError
    naming the document and the field."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise ImageError(f"malformed {where}: expected a JSON object")
        self._document: dict[str, Any] = value
        self._where = where

    def _get(self, key: str, kind: type, expected: str) -> Any:
        value = self._document.get(key)
        json_bool_as_number = isinstance(value, bool) and kind is not bool
        if value is not None and (json_bool_as_number or not isinstance(value, kind)):
            raise ImageError(f"malformed {self._where}: {key} must be {expected}")
        return value

    def text(self, key: str) -> str | None:
        value: str | None = self._get(key, str, "a string")
        return value

    def required_text(self, key: str) -> str:
        value = self.text(key)
        if value is None:
            raise ImageError(f"malformed {self._where}: {key} is missing")
        return value

    def flag(self, key: str) -> bool:
        return bool(self._get(key, bool, "true or false"))

    def size(self, key: str) -> int:
        value: int | None = self._get(key, int, "a whole number")
        if value is None or value < 0:
            raise ImageError(f"malformed {self._where}: {key} must be a size in bytes")
        return value

    def texts(self, key: str) -> tuple[str, ...] | None:
        value: list[Any] | None = self._get(key, list, "a list of strings")
        if value is not None and not all(isinstance(item, str) for item in value):
            raise ImageError(f"malformed {self._where}: {key} must be a list of strings")
        return None if value is None else tuple(value)

    def text_map(self, key: str) -> dict[str, str]:
        value: dict[str, Any] | None = self._get(key, dict, "an object of strings")
        if value is not None and not all(isinstance(item, str) for item in value.values()):
            raise ImageError(f"malformed {self._where}: {key} must be an object of strings")
        return dict(value or {})

    def timestamp(self, key: str) -> datetime | None:
        value = self.text(key)
        try:
            return None if value is None else datetime.fromisoformat(value)
        except ValueError:
            raise ImageError(f"malformed {self._where}: {key} is not a timestamp") from None

    def child(self, key: str) -> _Fields | None:
        value = self._document.get(key)
        return None if value is None else _Fields(value, f"{self._where} {key}")

    def section(self, key: str) -> _Fields:
        """Like :meth:`child`, an absent object read as an empty one."""
        return self.child(key) or _Fields({}, f"{self._where} {key}")

    def children(self, key: str) -> list[_Fields]:
        value: list[Any] | None = self._get(key, list, "a list")
        return [_Fields(item, f"{self._where} {key}[{n}]") for n, item in enumerate(value or ())]

    def raw(self, key: str) -> object:
        return self._document.get(key)


def _platform(fields: _Fields) -> Platform:
    # os/architecture/variant only: os.version, os.features and the like are not used
    return Platform(
        os=fields.required_text("os"),
        architecture=fields.required_text("architecture"),
        variant=fields.text("variant"),
    )


def _descriptor(fields: _Fields) -> Descriptor:
    digest = fields.required_text("digest")
    validate_digest(digest)
    platform = fields.child("platform")
    return Descriptor(
        media_type=fields.required_text("mediaType"),
        digest=digest,
        size=fields.size("size"),
        platform=None if platform is None else _platform(platform),
        annotations=fields.text_map("annotations"),
        artifact_type=fields.text("artifactType"),
    )


def parse_index_document(document: object, media_type: str, where: str) -> ImageIndex:
    """An index (or an OCI layout's ``index.json``) already decoded from JSON."""
    entries = _Fields(document, where).children("manifests")
    return ImageIndex(media_type=media_type, manifests=tuple(_descriptor(e) for e in entries))


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
    where = f"{media_type} document"
    if media_type in INDEX_TYPES:
        return parse_index_document(document, media_type, where)
    fields = _Fields(document, where)
    config = fields.child("config")
    if config is None:
        raise ImageError(f"malformed {where}: config is missing")
    manifest = ImageManifest(
        media_type=media_type,
        config=_descriptor(config),
        layers=tuple(_descriptor(layer) for layer in fields.children("layers")),
    )
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
        raise InvalidReferenceError(
            f"invalid platform {text!r}", hint="write os/arch[/variant], e.g. linux/arm64"
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
    return [replace(wanted, variant=f"v{n}") for n in range(level, 4, -1)] or [wanted]


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


def parse_image_config(content: bytes) -> tuple[ImageConfig, Platform]:
    """The image config blob as an ImageConfig plus the platform it was built for."""
    image = _Fields(_load_json(content, "image config"), "image config")
    run = image.section("config")
    test = run.section("Healthcheck").raw("Test")
    rootfs = image.section("rootfs")
    config = ImageConfig(
        user=run.text("User") or "",
        env=run.texts("Env") or (),
        entrypoint=run.texts("Entrypoint") or (),
        cmd=run.texts("Cmd") or (),
        labels=run.text_map("Labels"),
        healthcheck=tuple(str(part) for part in test) if isinstance(test, list) else None,
        created=image.timestamp("created"),
        history=tuple(
            HistoryEntry(
                created=entry.timestamp("created"),
                created_by=entry.text("created_by") or "",
                empty_layer=entry.flag("empty_layer"),
            )
            for entry in image.children("history")
        ),
        diff_ids=rootfs.texts("diff_ids") or (),
    )
    platform = Platform(
        os=image.text("os") or "unknown",
        architecture=image.text("architecture") or "unknown",
        variant=image.text("variant"),
    )
    return config, platform


def layer_media_type(head: bytes) -> str:
    """A layer blob's OCI media type, told by its first bytes (``head``)."""
    if head.startswith(GZIP_MAGIC):
        return OCI_LAYER_GZIP
    if head.startswith(ZSTD_MAGIC):
        return OCI_LAYER_ZSTD
    return OCI_LAYER
