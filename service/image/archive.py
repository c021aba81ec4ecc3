"""``docker save`` and ``oci-archive`` tarballs, read in place as an OCI image layout.

Both answer what an OCI layout directory (:class:`~service.image.layout.LayoutReader`)
answers: the top descriptor, a manifest's bytes, and a blob stored into the cache. Their
members are read through :mod:`service.image.tarball`, never extracted; a layer the
cache already holds is not read at all.

A ``docker save`` archive becomes the OCI image its ``manifest.json`` names: the config
as it is, each layer as it is (usually an uncompressed tar, whose digest is then the
config's diff_id, checked as the layer is stored), and a synthesized OCI manifest, which
is what the image is pinned by.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.errors import ImageError
from service.image.cache import BlobCache, ProgressCallback
from service.image.digest import digest_hex, sha256_digest
from service.image.inplace import BlobRange
from service.image.layout import (
    OCI_LAYOUT_FILE,
    check_layout_marker,
    parse_layout_index,
    select_entry,
)
from service.image.manifest import (
    MAX_CONFIG_SIZE,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    Descriptor,
    ImageIndex,
    layer_media_type,
)
from service.image.model import Transport
from service.image.tarball import Tarball, open_tarball


@contextlib.contextmanager
def open_archive(
    path: Path, transport: Transport, cache: BlobCache
) -> Iterator[DockerArchive | OciArchive]:
    """The ``docker-archive:`` or ``oci-archive:`` at ``path``, readable while open."""
    with open_tarball(path, cache) as tarball:
        if transport is Transport.DOCKER_ARCHIVE:
            yield DockerArchive(tarball, cache)
        else:
            yield OciArchive(tarball)


class OciArchive:
    """An OCI image layout, tarred (``skopeo copy oci-archive:``, ``buildah push``)."""

    def __init__(self, tarball: Tarball) -> None:
        self._tarball = tarball
        check_layout_marker(tarball.index_file(OCI_LAYOUT_FILE), str(tarball.path))
        where = f"{tarball.path} index.json"
        content = tarball.index_file("index.json")
        if content is None:
            raise ImageError(f"{where} is missing: not an oci-archive")
        self._index = parse_layout_index(content, where)

    def resolve(self, tag: str | None) -> Descriptor:
        path = self._tarball.path
        return select_entry(self._index, tag, f"oci-archive {path}", f"oci-archive:{path}")

    def read_blob(self, digest: str, max_size: int) -> bytes:
        return self._tarball.read(self._blob(digest), max_size)

    def store_blob(
        self, descriptor: Descriptor, cache: BlobCache, progress: ProgressCallback | None
    ) -> None:
        """The blob into ``cache`` (the archive's own), verified."""
        name = self._blob(descriptor.digest)
        self._tarball.store(name, descriptor.digest, f"blob {name}", progress)

    def blob_range(self, descriptor: Descriptor) -> BlobRange | None:
        return self._tarball.member_range(self._blob(descriptor.digest))

    def _blob(self, digest: str) -> str:
        name = f"blobs/sha256/{digest_hex(digest)}"
        found = self._tarball.find(name, "oci-archive blob")
        if found is None:
            raise ImageError(f"{self._tarball.path} lacks blob {digest}: the archive is incomplete")
        return found


class DockerArchive:
    """The one image of a ``docker save`` archive, as an OCI image with a synthesized
    manifest; layers not yet cached are read (and checked) only when stored."""

    def __init__(self, tarball: Tarball, cache: BlobCache) -> None:
        self._tarball = tarball
        entry = _single_image(tarball.index_file("manifest.json"))
        config = tarball.member(_entry(entry.get("Config"), "Config"), _WHAT["Config"])
        self._config = tarball.read(config, MAX_CONFIG_SIZE)
        self._config_digest = sha256_digest(self._config)
        diff_ids = _diff_ids(self._config)
        self._layers: dict[str, str] = {}  # layer digest -> member
        layers = [
            self._layer(
                _entry(name, "Layers"),
                diff_ids[position] if position < len(diff_ids) else None,
                cache,
            )
            for position, name in enumerate(entry.get("Layers") or [])
        ]
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": self._config_digest,
                "size": len(self._config),
            },
            "layers": layers,
        }
        self._manifest = json.dumps(manifest, separators=(",", ":")).encode()
        self._descriptor = Descriptor(
            media_type=OCI_MANIFEST,
            digest=sha256_digest(self._manifest),
            size=len(self._manifest),
        )

    def resolve(self, tag: str | None) -> Descriptor:
        index = ImageIndex(media_type=OCI_INDEX, manifests=(self._descriptor,))
        path = self._tarball.path
        return select_entry(index, tag, f"docker-archive {path}", f"docker-archive:{path}")

    def read_blob(self, digest: str, max_size: int) -> bytes:
        if digest != self._descriptor.digest:
            raise ImageError(f"{self._tarball.path} has no manifest {digest}")
        return self._manifest

    def store_blob(
        self, descriptor: Descriptor, cache: BlobCache, progress: ProgressCallback | None
    ) -> None:
        """The config or a layer into ``cache``; a layer is checked against its diff_id."""
        if descriptor.digest == self._config_digest:
            cache.put_bytes(self._config, descriptor.digest, "config")
            return
        name = self._layers.get(descriptor.digest)
        if name is None:
            raise ImageError(f"{self._tarball.path} has no layer {descriptor.digest}")
        self._tarball.store(name, descriptor.digest, f"layer {name} (config diff_id)", progress)

    def blob_range(self, descriptor: Descriptor) -> BlobRange | None:
        name = self._layers.get(descriptor.digest)
        return None if name is None else self._tarball.member_range(name)

    def _layer(self, entry: str, diff_id: str | None, cache: BlobCache) -> dict[str, Any]:
        """The manifest's descriptor of layer member ``entry`` (``diff_id``: the config's
        for it, if any). An uncompressed layer's digest is its diff_id: a cached one is not
        read at all; another is checked when stored. A compressed one is hashed (stored) now."""
        name = self._tarball.member(entry, _WHAT["Layers"])
        size = self._tarball.size(name)
        if diff_id is not None and cache.has(diff_id):
            media_type, digest = OCI_LAYER, diff_id
        else:
            media_type = layer_media_type(self._tarball.head(name))
            if media_type == OCI_LAYER and diff_id is not None:
                digest = diff_id
            else:
                digest = self._tarball.store(name, None, f"layer {name}")
        self._layers[digest] = name
        return {"mediaType": media_type, "digest": digest, "size": size}


_WHAT = {field: f"docker-archive {field} entry" for field in ("Config", "Layers")}


def _single_image(content: bytes | None) -> dict[str, Any]:
    try:
        entries = json.loads(content or b"")
    except ValueError as exc:
        raise ImageError(
            "not a docker-archive: manifest.json is missing or malformed",
            hint="pass the output of docker save, or use oci-archive: for OCI tarballs",
        ) from exc
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0], dict):
        listed = entries if isinstance(entries, list) else []
        tags = [t for e in listed if isinstance(e, dict) for t in e.get("RepoTags") or []]
        raise ImageError(
            f"docker-archive must hold exactly one image; this one lists {tags or 'none'}",
            hint="docker save one image per file",
        )
    return entries[0]


def _entry(name: object, field: str) -> str:
    if not isinstance(name, str) or not name:
        raise ImageError(f"docker-archive manifest.json has a malformed {field} entry")
    return name


def _diff_ids(config_bytes: bytes) -> list[str]:
    try:
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError("docker-archive image config lacks rootfs.diff_ids") from exc
    return [d for d in diff_ids if isinstance(d, str)]
