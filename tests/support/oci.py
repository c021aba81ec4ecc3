"""Build deterministic OCI image layouts, single- or multi-platform, and push them.

    layout = tmp_path / "layout"
    image = write_image(layout, ImageSpec(layers=[{"etc/os-release": b"ID=test\\n"}]), tag="1")
    digest = push(layout, "1", registry.host, "tollgate-test/tiny")

Same inputs give the same digests: layers are written by :mod:`tests.support.layers`
with fixed mtimes/owners, JSON documents are serialised canonically.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.layers import (
    Dir,
    Entry,
    File,
    HostTree,
    LayerBlob,
    LayerEntries,
    Symlink,
    Whiteout,
    write_gzip_layer,
)

__all__ = [
    "MEDIA_CONFIG",
    "MEDIA_INDEX",
    "MEDIA_LAYER_GZIP",
    "MEDIA_MANIFEST",
    "BuiltImage",
    "BuiltIndex",
    "Dir",
    "Entry",
    "File",
    "History",
    "HostTree",
    "ImageSpec",
    "LayerEntries",
    "PushError",
    "Symlink",
    "Whiteout",
    "layout_digest",
    "push",
    "read_blob_json",
    "registry_manifest_digest",
    "write_image",
    "write_index",
]

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
DEFAULT_CREATED = "2024-01-01T00:00:00Z"


class PushError(RuntimeError):
    """skopeo could not copy the layout, or the registry stored different bytes."""


@dataclass(frozen=True)
class History:
    created_by: str
    created: str = DEFAULT_CREATED
    empty_layer: bool = False
    comment: str = ""

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"created": self.created, "created_by": self.created_by}
        if self.comment:
            entry["comment"] = self.comment
        if self.empty_layer:
            entry["empty_layer"] = True
        return entry


@dataclass(frozen=True)
class ImageSpec:
    """What goes into one platform image. ``history`` defaults to one entry per layer."""

    layers: Sequence[LayerEntries]
    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None
    user: str = ""
    env: Sequence[str] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    entrypoint: Sequence[str] = ()
    cmd: Sequence[str] = ()
    labels: dict[str, str] = field(default_factory=dict)
    healthcheck: Sequence[str] | None = None  # e.g. ("CMD", "curl", "-f", "http://localhost/")
    history: Sequence[History] | None = None
    created: str = DEFAULT_CREATED

    def platform(self) -> dict[str, str]:
        platform = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            platform["variant"] = self.variant
        return platform


@dataclass(frozen=True)
class BuiltImage:
    """A platform image written into a layout (all digests are ``sha256:...``)."""

    digest: str  # manifest digest
    size: int
    config_digest: str
    layers: tuple[LayerBlob, ...]
    platform: dict[str, str]

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    def descriptor(self, *, with_platform: bool) -> dict[str, Any]:
        descriptor: dict[str, Any] = {
            "mediaType": MEDIA_MANIFEST,
            "digest": self.digest,
            "size": self.size,
        }
        if with_platform:
            descriptor["platform"] = self.platform
        return descriptor


@dataclass(frozen=True)
class BuiltIndex:
    digest: str
    size: int
    images: tuple[BuiltImage, ...]


def canonical_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _write_blob(layout: Path, data: bytes) -> tuple[str, int]:
    digest = hashlib.sha256(data).hexdigest()
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    (blobs / digest).write_bytes(data)
    return f"sha256:{digest}", len(data)


def read_blob_json(layout: Path, digest: str) -> dict[str, Any]:
    algorithm, hex_digest = digest.split(":", 1)
    loaded: dict[str, Any] = json.loads((layout / "blobs" / algorithm / hex_digest).read_bytes())
    return loaded


def _config_document(spec: ImageSpec, diff_ids: list[str]) -> dict[str, Any]:
    config: dict[str, Any] = {"Env": list(spec.env)}
    if spec.user:
        config["User"] = spec.user
    if spec.entrypoint:
        config["Entrypoint"] = list(spec.entrypoint)
    if spec.cmd:
        config["Cmd"] = list(spec.cmd)
    if spec.labels:
        config["Labels"] = dict(spec.labels)
    if spec.healthcheck is not None:
        config["Healthcheck"] = {"Test": list(spec.healthcheck)}
    history = spec.history or [
        History(created_by=f"tollgate-test layer {n}") for n in range(len(spec.layers))
    ]
    return {
        **spec.platform(),
        "created": spec.created,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [entry.as_json() for entry in history],
    }


def _write_manifest(layout: Path, spec: ImageSpec) -> BuiltImage:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    blobs = tuple(write_gzip_layer(entries, layout / "blobs" / "sha256") for entries in spec.layers)
    config_digest, config_size = _write_blob(
        layout, canonical_json(_config_document(spec, [blob.diff_id for blob in blobs]))
    )
    manifest = {
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": config_digest, "size": config_size},
        "layers": [
            {"mediaType": MEDIA_LAYER_GZIP, "digest": blob.digest, "size": blob.size}
            for blob in blobs
        ],
    }
    digest, size = _write_blob(layout, canonical_json(manifest))
    return BuiltImage(digest, size, config_digest, blobs, spec.platform())


def _tag(layout: Path, descriptor: dict[str, Any], tag: str) -> None:
    """Point ``tag`` (``ref.name``) at ``descriptor`` in index.json, replacing an old entry."""
    index_path = layout / "index.json"
    index: dict[str, Any] = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}
    )
    kept = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
    index["manifests"] = [*kept, {**descriptor, "annotations": {REF_NAME: tag}}]
    index_path.write_bytes(canonical_json(index))


def write_image(layout: Path, spec: ImageSpec, *, tag: str) -> BuiltImage:
    """Add one platform image to the layout at ``layout`` and tag it ``tag``."""
    image = _write_manifest(layout, spec)
    _tag(layout, image.descriptor(with_platform=False), tag)
    return image


def write_index(layout: Path, specs: Sequence[ImageSpec], *, tag: str) -> BuiltIndex:
    """Add a multi-platform image (an image index over ``specs``) tagged ``tag``."""
    images = tuple(_write_manifest(layout, spec) for spec in specs)
    index = {
        "schemaVersion": 2,
        "mediaType": MEDIA_INDEX,
        "manifests": [image.descriptor(with_platform=True) for image in images],
    }
    digest, size = _write_blob(layout, canonical_json(index))
    _tag(layout, {"mediaType": MEDIA_INDEX, "digest": digest, "size": size}, tag)
    return BuiltIndex(digest, size, images)


def layout_digest(layout: Path, tag: str) -> str:
    """The digest index.json names for ``tag`` (a manifest or an index)."""
    index = json.loads((layout / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get(REF_NAME) == tag:
            digest: str = descriptor["digest"]
            return digest
    raise KeyError(f"tag {tag!r} not in {layout}/index.json")


def registry_manifest_digest(
    registry_host: str, repo: str, tag: str, *, creds: str | None = None
) -> str:
    """sha256 of the manifest bytes the registry serves for ``repo:tag`` (via skopeo)."""
    command = ["skopeo", "inspect", "--raw", "--tls-verify=false"]
    if creds:
        command += ["--creds", creds]
    raw = _skopeo([*command, f"docker://{registry_host}/{repo}:{tag}"])
    return f"sha256:{hashlib.sha256(raw).hexdigest()}"


def push(layout: Path, tag: str, registry_host: str, repo: str, *, creds: str | None = None) -> str:
    """Copy ``oci:layout:tag`` to ``registry_host/repo:tag`` byte for byte; return its digest.

    Indexes are copied with ``--all``; ``--preserve-digests`` makes skopeo refuse to
    re-compress or convert, and the digest the registry serves is checked afterwards.
    """
    expected = layout_digest(layout, tag)
    index = json.loads((layout / "index.json").read_text())
    is_index = any(
        m["digest"] == expected and m.get("mediaType") == MEDIA_INDEX for m in index["manifests"]
    )
    command = ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--preserve-digests"]
    if is_index:
        command.append("--all")
    if creds:
        command += ["--dest-creds", creds]
    _skopeo([*command, f"oci:{layout}:{tag}", f"docker://{registry_host}/{repo}:{tag}"])
    served = registry_manifest_digest(registry_host, repo, tag, creds=creds)
    if served != expected:
        raise PushError(f"pushed {expected} but {registry_host}/{repo}:{tag} serves {served}")
    return expected


def _skopeo(command: list[str]) -> bytes:
    result = subprocess.run(command, capture_output=True, check=False, timeout=300)
    if result.returncode != 0:
        raise PushError(  # the command line is not shown: it may hold credentials
            f"skopeo {command[1]} {command[-1]} failed ({result.returncode}): "
            f"{result.stderr.decode()[-2000:]}"
        )
    return result.stdout
