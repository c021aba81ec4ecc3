"""OCI image layouts: read one (``oci-dir:``) and write the per-image layout engines scan.

``<cache>/images/<manifest-hex>/`` holds ``oci-layout``, an ``index.json`` naming exactly
that manifest (with its platform) and ``blobs`` -> a relative symlink to the shared
``<cache>/blobs``, so no blob is ever stored twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from pathlib import Path

from service.errors import ImageError, NotFoundError
from service.image.cache import BlobCache, ProgressCallback
from service.image.digest import digest_hex
from service.image.inplace import BlobRange
from service.image.manifest import (
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_LAYER,
    Descriptor,
    ImageIndex,
    parse_index_document,
)
from service.image.model import Platform

logger = logging.getLogger(__name__)

OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_VERSION = "1.0.0"
REF_NAME = "org.opencontainers.image.ref.name"


class LayoutReader:
    """An existing OCI image layout directory, read in place (blobs verified by callers)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        marker = root / OCI_LAYOUT_FILE
        try:
            content = marker.read_bytes()
        except OSError:
            content = None
        check_layout_marker(content, str(root))

    def index(self) -> ImageIndex:
        path = self.root / "index.json"
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path} is missing or malformed: {exc}") from exc
        return parse_layout_index(content, str(path))

    def resolve(self, tag: str | None) -> Descriptor:
        """The top-level descriptor named ``tag`` (ref.name), or the only one when untagged."""
        return select_entry(self.index(), tag, f"OCI layout {self.root}", f"oci-dir:{self.root}")

    def location(self, digest: str) -> Path:
        """Where the blob is, or will be once it is stored (layers arrive after the layout)."""
        return self.root / "blobs" / "sha256" / digest_hex(digest)

    def blob_path(self, digest: str) -> Path:
        path = self.location(digest)
        if not path.is_file():
            raise ImageError(
                f"OCI layout {self.root} lacks blob {digest}: the layout is incomplete"
            )
        return path

    def read_blob(self, digest: str, max_size: int = MAX_MANIFEST_SIZE) -> bytes:
        path = self.blob_path(digest)
        if path.stat().st_size > max_size:
            raise ImageError(f"blob {digest} in {self.root} is larger than {max_size} bytes")
        return path.read_bytes()

    def store_blob(
        self, descriptor: Descriptor, cache: BlobCache, progress: ProgressCallback | None
    ) -> None:
        """Copy the blob into ``cache``, verified."""
        cache.put_file(self.blob_path(descriptor.digest), descriptor.digest, progress=progress)

    def blob_range(self, descriptor: Descriptor) -> BlobRange:
        """The blob's file, whole (read in place, verified by the caller)."""
        path = self.blob_path(descriptor.digest)
        plain = descriptor.media_type == OCI_LAYER
        return BlobRange(path, 0, path.stat().st_size, uncompressed=plain)


def check_layout_marker(content: bytes | None, where: str) -> None:
    """Refuse ``where`` unless ``content`` (its ``oci-layout`` file) names our layout version."""
    try:
        version = json.loads(content or b"").get("imageLayoutVersion")
    except (ValueError, AttributeError) as exc:
        raise ImageError(
            f"{where} is not an OCI image layout (no readable {OCI_LAYOUT_FILE} file)",
            hint="point oci-dir: at a directory (or oci-archive: at a tar of one) written by "
            "skopeo, buildah or umoci",
        ) from exc
    if version != OCI_LAYOUT_VERSION:
        raise ImageError(f"{where}: unsupported OCI layout version {version!r}")


def parse_layout_index(content: bytes, where: str) -> ImageIndex:
    """A layout's ``index.json`` (read from ``where``)."""
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise ImageError(f"{where} is missing or malformed: {exc}") from exc
    return parse_index_document(document, OCI_INDEX, where)


def select_entry(index: ImageIndex, tag: str | None, where: str, reference: str) -> Descriptor:
    """The entry of ``index`` named ``tag`` (ref.name), or the only one when untagged;
    ``reference`` is how the user names ``where`` (``oci-dir:PATH``), for the hint."""
    entries = index.manifests
    if tag is not None:
        named = [e for e in entries if e.annotations.get(REF_NAME) == tag]
        if not named:
            raise NotFoundError(
                f"tag {tag!r} not found in {where}",
                hint=f"available tags: {_tags(entries)}",
            )
        return named[0]
    if len(entries) != 1:
        raise ImageError(
            f"{where} holds {len(entries)} images; say which one",
            hint=f"use {reference}:TAG with one of: {_tags(entries)}",
        )
    return entries[0]


def _tags(entries: tuple[Descriptor, ...]) -> str:
    names = sorted(e.annotations[REF_NAME] for e in entries if REF_NAME in e.annotations)
    return ", ".join(names) or "none"


def write_image_layout(cache: BlobCache, manifest: Descriptor, platform: Platform) -> Path:
    """Create (once) ``<cache>/images/<hex>/`` naming exactly ``manifest``; returns its path."""
    target = cache.images_dir / digest_hex(manifest.digest)
    if (target / "index.json").is_file():
        return target
    entry: dict[str, object] = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": manifest.size,
        "platform": platform.as_json(),
    }
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
    staging = Path(tempfile.mkdtemp(prefix=".layout-", dir=cache.images_dir))
    try:
        staging.chmod(0o755)
        layout_marker = {"imageLayoutVersion": OCI_LAYOUT_VERSION}
        (staging / OCI_LAYOUT_FILE).write_text(json.dumps(layout_marker))
        (staging / "index.json").write_text(json.dumps(index, indent=2))
        os.symlink(os.path.relpath(cache.root / "blobs", target), staging / "blobs")
        os.rename(staging, target)
    except OSError:
        if not (target / "index.json").is_file():  # not simply a concurrent writer winning
            raise
    finally:
        with contextlib.suppress(OSError):
            for child in staging.iterdir():
                child.unlink()
            staging.rmdir()
    logger.debug("image layout for %s at %s", manifest.digest, target)
    return target
