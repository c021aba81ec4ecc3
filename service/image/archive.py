"""Safe extraction of image tarballs, and ``docker save`` output -> OCI image layout.

Extraction refuses (UnsafeArchiveError, naming the member) path traversal, absolute
names, links that are absolute or escape the destination, devices, FIFOs, sparse files
and decompression bombs (gzip and zstd layer blobs count at their inflated size);
tarfile's ``data`` filter re-checks every member against the real (symlink-resolved)
destination, so nothing is ever written outside it.
"""

from __future__ import annotations

import gzip
import json
import logging
import os
import posixpath
import tarfile
import zlib
from pathlib import Path
from typing import Any

import zstandard

from service.errors import ImageError, UnsafeArchiveError
from service.image.digest import DigestWriter, digest_hex, mismatch, sha256_digest
from service.image.layout import OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION
from service.image.manifest import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
)

logger = logging.getLogger(__name__)

MAX_TOTAL_BYTES = 64 << 30  # uncompressed content of one archive
MAX_MEMBERS = 200_000
MAX_RATIO = 100  # uncompressed / archive size, once past RATIO_FLOOR_BYTES
RATIO_FLOOR_BYTES = 64 << 20
_CHUNK = 1 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract ``archive`` (tar, optionally compressed) into the existing directory ``dest``."""
    archive_size = max(archive.stat().st_size, 1)
    limit = min(MAX_TOTAL_BYTES, max(RATIO_FLOOR_BYTES, MAX_RATIO * archive_size))
    total = 0
    try:
        with tarfile.open(archive, "r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise UnsafeArchiveError(
                        f"{archive} has more than {MAX_MEMBERS} members: refusing it"
                    )
                _check_member(member)
                total += member.size
                if total > limit:
                    raise _bomb(archive, member, total, archive_size)
                try:
                    tar.extract(member, dest, filter="data")
                except tarfile.FilterError as exc:
                    raise _unsafe(member, f"refused by the extraction filter ({exc})") from exc
                if member.isreg():  # a compressed layer blob counts at its inflated size
                    try:
                        total += _inflated_size(dest / member.name, limit - total)
                    except _WindowTooLarge:
                        raise _unsafe(
                            member,
                            "needs a zstd window over libzstd's 128 MiB limit to "
                            "decompress: refusing a memory bomb",
                        ) from None
                    if total > limit:
                        raise _bomb(archive, member, total, archive_size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ImageError(
            f"{archive} is not a readable tar archive: {exc}",
            hint="pass the file written by docker save, skopeo copy or buildah push",
        ) from exc
    logger.debug("extracted %s (%d bytes) into %s", archive, total, dest)


def _bomb(
    archive: Path, member: tarfile.TarInfo, total: int, archive_size: int
) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive} expands past {total} bytes at member {member.name!r} "
        f"(archive is {archive_size} bytes): refusing a decompression bomb",
        hint="the archive is malformed or hostile; do not use it",
    )


class _WindowTooLarge(Exception):
    """A zstd frame declares a window past what libzstd decodes by default (128 MiB)."""


def _inflated_size(path: Path, budget: int) -> int:
    """What a gzip or zstd file inflates to (0 if neither), counted no further than ``budget``.

    A corrupt stream is left for the engine to report: only the size matters here. A
    zstd frame whose size cannot be counted within libzstd's memory limit is not: the
    engines' decoders accept larger windows, so it raises :class:`_WindowTooLarge`.
    """
    inflated = 0
    with path.open("rb") as raw:
        media_type = _layer_media_type(raw.read(len(_ZSTD_MAGIC)))
        raw.seek(0)
        stream: gzip.GzipFile | zstandard.ZstdDecompressionReader
        if media_type == OCI_LAYER_GZIP:
            stream = gzip.GzipFile(fileobj=raw)
        elif media_type == OCI_LAYER_ZSTD:  # every frame: engines decode them all
            stream = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        else:
            return 0
        try:
            with stream:
                while inflated <= budget and (chunk := stream.read(_CHUNK)):
                    inflated += len(chunk)
        except zstandard.ZstdError as error:
            if "too much memory" in str(error):  # ZSTD_error_frameParameter_windowTooLarge
                raise _WindowTooLarge from error
        except (OSError, EOFError, zlib.error):
            pass
    return inflated


def _layer_media_type(head: bytes) -> str:
    """A layer blob's OCI media type, told by its first bytes (``head``)."""
    if head.startswith(_GZIP_MAGIC):
        return OCI_LAYER_GZIP
    if head.startswith(_ZSTD_MAGIC):
        return OCI_LAYER_ZSTD
    return OCI_LAYER


def _unsafe(member: tarfile.TarInfo, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"archive member {member.name!r} {why}",
        hint="the archive is malformed or hostile; do not use it",
    )


def _escapes(path: str) -> bool:
    normal = posixpath.normpath(path)
    return normal == ".." or normal.startswith("../")


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise _unsafe(member, "has an absolute path")
    if ".." in name.split("/") or _escapes(name):
        raise _unsafe(member, "escapes the extraction directory (path traversal)")
    if member.isdev() or member.isfifo():
        raise _unsafe(member, "is a device or FIFO")
    if member.type == tarfile.GNUTYPE_SPARSE or getattr(member, "sparse", None):
        raise _unsafe(member, "is a sparse file")
    if member.issym():
        if posixpath.isabs(member.linkname):
            raise _unsafe(member, f"is a symlink to the absolute path {member.linkname!r}")
        if _escapes(posixpath.join(posixpath.dirname(name), member.linkname)):
            raise _unsafe(member, f"is a symlink escaping the archive ({member.linkname!r})")
    elif member.islnk():
        if posixpath.isabs(member.linkname) or _escapes(member.linkname):
            raise _unsafe(member, f"is a hard link escaping the archive ({member.linkname!r})")
    elif not (member.isreg() or member.isdir()):
        raise _unsafe(member, f"has unsupported tar type {member.type!r}")


def docker_archive_to_layout(root: Path) -> None:
    """Turn an extracted ``docker save`` tree into an OCI image layout in place.

    Layers are digested as they are (often uncompressed tar); the synthesized OCI
    manifest is what the image is pinned by.
    """
    entry = _single_image(root)
    config_path = _inside(root, entry.get("Config"), "Config")
    layer_paths = [_inside(root, layer, "Layers") for layer in entry.get("Layers") or []]
    config_bytes = config_path.read_bytes()
    config_digest = _store(root, config_bytes)
    diff_ids = _diff_ids(config_bytes)
    layers: list[dict[str, Any]] = []
    for position, path in enumerate(layer_paths):
        digest, size, media_type = _store_file(root, path)
        if media_type == OCI_LAYER and position < len(diff_ids) and diff_ids[position] != digest:
            raise mismatch(diff_ids[position], digest, f"layer {path.name} (config diff_id)")
        layers.append({"mediaType": media_type, "digest": digest, "size": size})
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": layers,
    }
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = _store(root, manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest_bytes)}
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / OCI_LAYOUT_FILE).write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))


def _single_image(root: Path) -> dict[str, Any]:
    try:
        entries = json.loads((root / "manifest.json").read_bytes())
    except (OSError, ValueError) as exc:
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


def _inside(root: Path, name: object, field: str) -> Path:
    if not isinstance(name, str) or not name:
        raise ImageError(f"docker-archive manifest.json has a malformed {field} entry")
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()) or not path.is_file():
        raise UnsafeArchiveError(f"docker-archive {field} entry {name!r} is not a file inside it")
    return path


def _diff_ids(config_bytes: bytes) -> list[str]:
    try:
        diff_ids = json.loads(config_bytes)["rootfs"]["diff_ids"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ImageError("docker-archive image config lacks rootfs.diff_ids") from exc
    return [d for d in diff_ids if isinstance(d, str)]


def _blob_path(root: Path, digest: str) -> Path:
    path = root / "blobs" / "sha256" / digest_hex(digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _store(root: Path, data: bytes) -> str:
    digest = sha256_digest(data)
    target = _blob_path(root, digest)
    if not target.exists():
        target.write_bytes(data)
    return digest


def _store_file(root: Path, path: Path) -> tuple[str, int, str]:
    hasher = DigestWriter()
    with path.open("rb") as file:
        head = file.read(4)
        hasher.update(head)
        while chunk := file.read(_CHUNK):
            hasher.update(chunk)
    target = _blob_path(root, hasher.digest)
    if not target.exists():
        os.link(path, target)
    return hasher.digest, hasher.size, _layer_media_type(head)
