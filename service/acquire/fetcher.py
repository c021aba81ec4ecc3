"""Stage 1: resolve an image reference to a pinned, verified OCI layout in the cache.

``ImageFetcher.fetch`` works the same for every transport: resolve the reference to a
manifest or index, pick the platform, store every manifest, config and layer in the
content-addressed cache (digest-verified), and write the per-image OCI layout that
engines scan. ``ImageFetcher.pinning`` hands the image over as soon as its manifest
and config are verified, while its layers are still being stored, so that an engine
reading layers one at a time can start (see :mod:`service.image.download`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from service.errors import ImageError
from service.image.cache import BlobCache, ProgressCallback
from service.image.digest import verify_digest
from service.image.download import LayerDownload, Pinning
from service.image.inplace import BlobRange
from service.image.layout import LayoutReader, write_image_layout
from service.image.manifest import (
    MAX_CONFIG_SIZE,
    MAX_MANIFEST_SIZE,
    Descriptor,
    ImageIndex,
    ImageManifest,
    detect_media_type,
    image_platforms,
    normalize_platform,
    parse_image_config,
    parse_manifest,
    parse_platform,
    select_platform,
)
from service.image.model import ImageReference, PinnedImage, Platform, Transport
from service.image.reference import format_reference
from service.registry.factory import PullRegistry
from service.registry.interface import Manifest
from service.settings import Settings

logger = logging.getLogger(__name__)

RegistryFactory = Callable[[str], PullRegistry]
_MAX_INDEX_DEPTH = 2


class _Source(Protocol):
    """Where manifests and blobs come from (a registry or an OCI layout on disk)."""

    def top(self) -> Manifest:
        """The manifest or index the reference names, digest-verified."""
        ...

    def manifest(self, descriptor: Descriptor) -> Manifest: ...

    def blob(self, descriptor: Descriptor, progress: ProgressCallback | None) -> None:
        """Make sure the blob is in the cache (verified)."""
        ...

    def in_place(self, descriptor: Descriptor) -> BlobRange | None:
        """Where the blob lies on disk, not in the cache, readable in place; else None."""
        ...


class _RegistrySource:
    def __init__(self, registry: PullRegistry, ref: ImageReference, cache: BlobCache) -> None:
        assert ref.repository is not None
        self._registry = registry
        self._repository = ref.repository
        self._reference = ref.digest or ref.tag or "latest"
        self._cache = cache

    def top(self) -> Manifest:
        return self._registry.get_manifest(self._repository, self._reference)

    def manifest(self, descriptor: Descriptor) -> Manifest:
        return self._registry.get_manifest(self._repository, descriptor.digest)

    def blob(self, descriptor: Descriptor, progress: ProgressCallback | None) -> None:
        self._registry.fetch_blob_to(
            self._repository, descriptor.digest, self._cache, progress, size=descriptor.size
        )

    def in_place(self, descriptor: Descriptor) -> BlobRange | None:
        return None  # a download is read as it is stored


class _Layout(Protocol):
    """An OCI image layout: a directory (:class:`LayoutReader`) or an image archive read
    in place (:mod:`service.image.archive`)."""

    def resolve(self, tag: str | None) -> Descriptor: ...

    def read_blob(self, digest: str, max_size: int) -> bytes: ...

    def store_blob(
        self, descriptor: Descriptor, cache: BlobCache, progress: ProgressCallback | None
    ) -> None: ...

    def blob_range(self, descriptor: Descriptor) -> BlobRange | None:
        """Where the blob lies, when it can be read in place."""
        ...


class _LayoutSource:
    """An OCI layout's manifests, read from it; its blobs stored into the cache."""

    def __init__(self, layout: _Layout, tag: str | None, cache: BlobCache) -> None:
        self._layout = layout
        self._tag = tag
        self._cache = cache

    def top(self) -> Manifest:
        return self.manifest(self._layout.resolve(self._tag))

    def manifest(self, descriptor: Descriptor) -> Manifest:
        content = self._layout.read_blob(descriptor.digest, MAX_MANIFEST_SIZE)
        verify_digest(descriptor.digest, content, f"manifest {descriptor.digest}")
        media_type = detect_media_type(content, descriptor.media_type)
        return Manifest(media_type=media_type, digest=descriptor.digest, content=content)

    def blob(self, descriptor: Descriptor, progress: ProgressCallback | None) -> None:
        if not self._cache.has(descriptor.digest):  # else stored already: a cached layer
            self._layout.store_blob(descriptor, self._cache, progress)

    def in_place(self, descriptor: Descriptor) -> BlobRange | None:
        if self._cache.has(descriptor.digest):
            return None
        return self._layout.blob_range(descriptor)


def _download(
    source: _Source,
    manifest: ImageManifest,
    progress: ProgressCallback | None,
    cache: BlobCache,
    in_place: bool = False,
) -> LayerDownload:
    """Every layer of ``manifest`` into ``cache``, in order, in the background; with
    ``in_place``, those the source holds on disk left there, to be read in place."""
    layers = {layer.digest: layer for layer in manifest.layers}

    def fetch(digest: str) -> None:
        source.blob(layers[digest], progress)

    def where(digest: str) -> BlobRange | None:
        return source.in_place(layers[digest])

    return LayerDownload(list(layers), fetch, cache.path, where if in_place else None)


@dataclass(frozen=True)
class _Resolved:
    """The platform image manifest a reference resolved to."""

    manifest: Manifest
    document: ImageManifest
    index_digest: str | None = None
    platform: Platform | None = None  # from the index entry, or as requested


class ImageFetcher:
    """Reference (+ platform) -> :class:`PinnedImage`, for every supported transport."""

    def __init__(self, cache: BlobCache, registry_factory: RegistryFactory, settings: Settings):
        self._cache = cache
        self._registries = registry_factory
        self._default_platform = parse_platform(settings.platform)

    def fetch(
        self,
        ref: ImageReference,
        platform: Platform | None = None,
        progress: ProgressCallback | None = None,
    ) -> PinnedImage:
        """Pin ``ref`` for ``platform`` (default: settings.platform), every layer cached."""
        with self.pinning(ref, platform, progress) as pinning:
            pinning.layers.finish()
            return pinning.image

    @contextlib.contextmanager
    def pinning(
        self,
        ref: ImageReference,
        platform: Platform | None = None,
        progress: ProgressCallback | None = None,
        *,
        in_place: bool = False,
    ) -> Iterator[Pinning]:
        """Pin ``ref`` as soon as its manifest and config are verified; its layers are
        downloaded in the background while the ``with`` block runs. Leaving the block
        waits for them (raising what failed), or stops them if the block failed.
        ``in_place``: layers that lie on disk already (an OCI layout, an uncompressed
        archive) are verified and read there, not stored (see ``Pinning.layers``)."""
        with self._open(ref) as source:
            current = source.top()
            document = self._parse_and_store(current)
            index_digest: str | None = None
            selected: Platform | None = None
            for _ in range(_MAX_INDEX_DEPTH):
                if not isinstance(document, ImageIndex):
                    break
                index_digest = index_digest or current.digest
                entry = select_platform(
                    document, platform or self._default_platform, format_reference(ref)
                )
                selected = entry.platform
                current = self._child(source, entry)
                document = self._parse_and_store(current)
            if isinstance(document, ImageIndex):
                raise ImageError(f"{format_reference(ref)}: indexes nested too deeply")
            if index_digest is None and platform is not None:
                selected = platform  # checked against the config below
            resolved = _Resolved(current, document, index_digest, selected)
            image = self._pin(ref, source, resolved)
            layers = _download(source, document, progress, self._cache, in_place)
            try:
                yield Pinning(image, layers)
            except BaseException:
                layers.abandon()
                raise
            layers.finish()

    def fetch_all_platforms(self, ref: ImageReference) -> list[PinnedImage]:
        """Every runnable platform of ``ref`` (one image when it is not an index)."""
        with self._open(ref) as source:
            top = source.top()
            document = self._parse_and_store(top)
            if not isinstance(document, ImageIndex):
                return [self._pinned(ref, source, _Resolved(top, document))]
            pinned = []
            for entry in image_platforms(document):
                child = self._child(source, entry)
                manifest = self._parse_and_store(child)
                if not isinstance(manifest, ImageManifest):
                    raise ImageError(f"{format_reference(ref)}: indexes nested too deeply")
                resolved = _Resolved(child, manifest, top.digest, entry.platform)
                pinned.append(self._pinned(ref, source, resolved))
            return pinned

    @contextlib.contextmanager
    def _open(self, ref: ImageReference) -> Iterator[_Source]:
        if ref.transport is Transport.REGISTRY:
            assert ref.registry is not None
            yield _RegistrySource(self._registries(ref.registry), ref, self._cache)
            return
        assert ref.path is not None
        path = Path(ref.path)
        if ref.transport is Transport.OCI_DIR:
            yield _LayoutSource(LayoutReader(path), ref.tag, self._cache)
            return
        if not path.is_file():
            raise ImageError(f"{path} does not exist or is not a file")
        # tar, gzip and zstd readers load only for archives, not for every registry pull
        from service.image.archive import open_archive

        with open_archive(path, ref.transport, self._cache) as archive:
            yield _LayoutSource(archive, ref.tag, self._cache)

    def _child(self, source: _Source, entry: Descriptor) -> Manifest:
        """A manifest named by digest: from the cache when we already have it."""
        if self._cache.has(entry.digest):
            content = self._cache.read_bytes(entry.digest, max_size=MAX_MANIFEST_SIZE)
            media_type = detect_media_type(content, entry.media_type)
            return Manifest(media_type=media_type, digest=entry.digest, content=content)
        return source.manifest(entry)

    def _parse_and_store(self, manifest: Manifest) -> ImageManifest | ImageIndex:
        document = parse_manifest(manifest.content, manifest.media_type)
        self._cache.put_bytes(manifest.content, manifest.digest, "manifest")
        return document

    def _pinned(self, ref: ImageReference, source: _Source, resolved: _Resolved) -> PinnedImage:
        """Pinned with every layer cached."""
        image = self._pin(ref, source, resolved)
        _download(source, resolved.document, None, self._cache).finish()
        return image

    def _pin(self, ref: ImageReference, source: _Source, resolved: _Resolved) -> PinnedImage:
        """Config fetched and checked, layout written; the layers are the caller's to fetch."""
        name = format_reference(ref)
        current, manifest = resolved.manifest, resolved.document
        index_digest, platform = resolved.index_digest, resolved.platform
        if not self._cache.has(manifest.config.digest):
            source.blob(manifest.config, None)
        config_bytes = self._cache.read_bytes(manifest.config.digest, max_size=MAX_CONFIG_SIZE)
        config, config_platform = parse_image_config(config_bytes)
        if (
            platform is not None
            and index_digest is None
            and normalize_platform(platform) != normalize_platform(config_platform)
        ):
            raise ImageError(
                f"{name} is a single-platform image for {config_platform}, not {platform}",
                hint=f"scan it with --platform {config_platform}",
            )
        if len(config.diff_ids) != len(manifest.layers):
            raise ImageError(
                f"{name}: manifest lists {len(manifest.layers)} layers but the config "
                f"lists {len(config.diff_ids)} diff_ids; the image is malformed"
            )
        pinned_platform = platform or config_platform
        descriptor = Descriptor(
            media_type=current.media_type, digest=current.digest, size=len(current.content)
        )
        layout = write_image_layout(self._cache, descriptor, pinned_platform)
        logger.info("pinned %s to %s (%s)", name, current.digest, pinned_platform)
        return PinnedImage(
            reference=ref,
            display_name=name,
            digest=current.digest,
            index_digest=index_digest,
            platform=pinned_platform,
            media_type=current.media_type,
            layout=layout,
            config_digest=manifest.config.digest,
            layers=tuple(layer.digest for layer in manifest.layers),
            size=manifest.config.size + sum(layer.size for layer in manifest.layers),
            config=config,
        )
