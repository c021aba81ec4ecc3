"""Archive transports made from an OCI layout: ``docker save`` tars and ``oci-archive`` tars.

Both are written deterministically (sorted members, fixed mtimes, root owner), so the
same layout always gives the same archive bytes.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import IO

from tests.support.layers import FIXED_MTIME
from tests.support.oci import MEDIA_INDEX, layout_digest, read_blob_json


def _add_stream(tar: tarfile.TarFile, name: str, stream: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime = FIXED_MTIME
    info.mode = 0o644
    info.uname = info.gname = "root"
    info.size = size
    tar.addfile(info, stream)


def _add(tar: tarfile.TarFile, name: str, data: bytes | Path) -> None:
    if isinstance(data, bytes):
        _add_stream(tar, name, io.BytesIO(data), len(data))
    else:
        with data.open("rb") as handle:
            _add_stream(tar, name, handle, data.stat().st_size)


def _blob_path(layout: Path, digest: str) -> Path:
    algorithm, hex_digest = digest.split(":", 1)
    return layout / "blobs" / algorithm / hex_digest


def write_oci_archive(layout: Path, archive: Path) -> Path:
    """Tar the whole layout directory (the ``oci-archive:`` transport)."""
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(p for p in layout.rglob("*") if p.is_file()):
            _add(tar, path.relative_to(layout).as_posix(), path)
    return archive


def write_docker_archive(layout: Path, tag: str, archive: Path, *, repo_tag: str) -> Path:
    """Write the single-platform image ``tag`` as a ``docker save`` archive.

    Layout: ``manifest.json`` (Config, RepoTags, Layers), ``<config hex>.json`` and one
    uncompressed ``<diff_id hex>/layer.tar`` per layer, as Docker writes them.
    """
    digest = layout_digest(layout, tag)
    manifest = read_blob_json(layout, digest)
    if manifest.get("mediaType") == MEDIA_INDEX:
        raise ValueError(f"{tag} is a multi-platform index; docker archives hold one image")
    config_digest: str = manifest["config"]["digest"]
    diff_ids: list[str] = read_blob_json(layout, config_digest)["rootfs"]["diff_ids"]
    config_name = f"{config_digest.split(':', 1)[1]}.json"
    layer_names = [f"{diff_id.split(':', 1)[1]}/layer.tar" for diff_id in diff_ids]
    docker_manifest = [{"Config": config_name, "RepoTags": [repo_tag], "Layers": layer_names}]
    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, config_name, _blob_path(layout, config_digest))
        for name, layer in zip(layer_names, manifest["layers"], strict=True):
            with (
                gzip.open(_blob_path(layout, layer["digest"]), "rb") as compressed,
                tempfile.TemporaryFile(dir=archive.parent) as scratch,
            ):
                shutil.copyfileobj(compressed, scratch)
                size = scratch.tell()
                scratch.seek(0)
                _add_stream(tar, name, scratch, size)
        _add(tar, "manifest.json", json.dumps(docker_manifest).encode())
    return archive
