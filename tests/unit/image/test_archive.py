"""Safe extraction refuses hostile tarballs; docker save output becomes an OCI layout."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from service.acquire.fetcher import ImageFetcher
from service.errors import DigestMismatchError, UnsafeArchiveError
from service.image.archive import MAX_RATIO, RATIO_FLOOR_BYTES, safe_extract
from service.image.cache import BlobCache
from service.image.reference import parse_reference
from service.settings import Settings
from tests.unit.registry.fakes import layer_tar, sha


def hostile_tar(path: Path, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w") as tar:
        tar.addfile(_file("ok.txt", b"fine"), io.BytesIO(b"fine"))
        for member in members:
            data = io.BytesIO(b"x" * member.size) if member.isreg() else None
            tar.addfile(member, data)
    return path


def _file(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def plain_tar(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            tar.addfile(_file(name, data), io.BytesIO(data))
    return path


def _special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_file("../escape.txt", b"x"), "path traversal"),
        (_file("a/../../escape.txt", b"x"), "path traversal"),
        (_file("/etc/passwd-evil", b"x"), "absolute path"),
        (_special("link", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
        (_special("link", tarfile.SYMTYPE, "../../outside"), "symlink escaping"),
        (_special("hard", tarfile.LNKTYPE, "../outside"), "hard link escaping"),
        (_special("dev", tarfile.CHRTYPE), "device"),
        (_special("blk", tarfile.BLKTYPE), "device"),
        (_special("fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_hostile_members_are_refused_by_name(
    tmp_path: Path, member: tarfile.TarInfo, why: str
) -> None:
    archive = hostile_tar(tmp_path / "evil.tar", member)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match=why) as raised:
        safe_extract(archive, dest)
    assert repr(member.name) in str(raised.value)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "outside").exists()


def test_symlink_chain_escape_is_refused(tmp_path: Path) -> None:
    """Each link looks harmless lexically; together they point outside."""
    archive = hostile_tar(
        tmp_path / "chain.tar",
        _special("p/q/r", tarfile.SYMTYPE, "../../t"),
        _special("t", tarfile.DIRTYPE),
        _special("z", tarfile.SYMTYPE, "p/q/r/../.."),
        _file("z/escaped.txt", b"x"),
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError):
        safe_extract(archive, dest)
    assert not (tmp_path / "escaped.txt").exists()


def test_decompression_bomb_is_refused(tmp_path: Path) -> None:
    size = RATIO_FLOOR_BYTES + (1 << 20)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = _file("zeros", b"")
        info.size = size
        tar.addfile(info, io.BytesIO(bytes(size)))
    bomb = tmp_path / "bomb.tar.gz"
    bomb.write_bytes(gzip.compress(raw.getvalue(), compresslevel=9))
    assert size > MAX_RATIO * bomb.stat().st_size
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="decompression bomb"):
        safe_extract(bomb, dest)
    assert not (dest / "zeros").exists()


ZSTD_BLOB = "blobs/sha256/" + "ab" * 32


@pytest.mark.parametrize("honest_frames", [0, 1], ids=["one-frame", "bomb-after-small-frame"])
def test_zstd_layer_bomb_is_refused(tmp_path: Path, honest_frames: int) -> None:
    """A tar+zstd layer blob counts at its inflated size, every frame of it."""
    size = RATIO_FLOOR_BYTES + (1 << 20)
    compress = zstandard.ZstdCompressor().compress
    blob = compress(b"honest") * honest_frames + compress(layer_tar({"zeros": bytes(size)}))
    archive = plain_tar(tmp_path / "bomb-oci.tar", {ZSTD_BLOB: blob})
    assert size > MAX_RATIO * archive.stat().st_size
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="decompression bomb") as raised:
        safe_extract(archive, dest)
    assert repr(ZSTD_BLOB) in str(raised.value)


def test_zstd_layer_with_an_oversized_window_is_refused(tmp_path: Path) -> None:
    """A frame that declares a 1 GiB window cannot be counted within libzstd's default
    memory limit; the engines' decoders would accept it, so it is refused, not skipped."""
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=30, write_content_size=False
    )
    blob = io.BytesIO()
    with zstandard.ZstdCompressor(compression_params=params).stream_writer(
        blob, closefd=False
    ) as writer:
        writer.write(layer_tar({"zeros": bytes(1 << 20)}))
    assert zstandard.get_frame_parameters(blob.getvalue()).window_size == 1 << 30
    archive = plain_tar(tmp_path / "window-oci.tar", {ZSTD_BLOB: blob.getvalue()})
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError, match="zstd window") as raised:
        safe_extract(archive, dest)
    assert repr(ZSTD_BLOB) in str(raised.value)


def test_honest_zstd_layer_extracts(tmp_path: Path) -> None:
    layer = layer_tar({"etc/os-release": b"ID=debian\n"})
    blob = zstandard.ZstdCompressor().compress(layer)
    archive = plain_tar(tmp_path / "oci.tar", {ZSTD_BLOB: blob})
    dest = tmp_path / "dest"
    dest.mkdir()
    safe_extract(archive, dest)
    extracted = (dest / ZSTD_BLOB).read_bytes()
    assert extracted == blob
    assert zstandard.ZstdDecompressor().decompress(extracted) == layer


def test_inside_symlinks_and_files_extract(tmp_path: Path) -> None:
    archive = hostile_tar(tmp_path / "ok.tar", _special("alias", tarfile.SYMTYPE, "ok.txt"))
    dest = tmp_path / "dest"
    dest.mkdir()
    safe_extract(archive, dest)
    assert (dest / "alias").read_text() == "fine"


def docker_save(path: Path, layer: bytes, diff_id: str) -> Path:
    """The classic ``docker save`` shape: <id>/layer.tar, <hex>.json config, manifest.json."""
    config = json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {"User": "nobody"},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_name = sha(config).removeprefix("sha256:") + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": ["app:1"], "Layers": ["abc/layer.tar"]}]
    ).encode()
    return plain_tar(path, {config_name: config, "abc/layer.tar": layer, "manifest.json": manifest})


def test_docker_archive_is_converted_and_pinned_by_synthesized_manifest(tmp_path: Path) -> None:
    layer = layer_tar({"etc/os-release": b"ID=debian\n"})
    archive = docker_save(tmp_path / "app.tar", layer, sha(layer))
    cache = BlobCache(tmp_path / "cache")
    fetcher = ImageFetcher(cache, lambda host: pytest.fail(), Settings())
    pinned = fetcher.fetch(parse_reference(f"docker-archive:{archive}"))
    assert pinned.layers == (sha(layer),)
    assert pinned.config.user == "nobody"
    manifest = cache.path(pinned.digest).read_bytes()
    assert sha(manifest) == pinned.digest
    assert (
        json.loads(manifest)["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    )
    assert list(cache.scratch_dir.iterdir()) == []
    assert fetcher.fetch(parse_reference(f"docker-archive:{archive}")).digest == pinned.digest


def test_docker_archive_layer_not_matching_diff_id_is_refused(tmp_path: Path) -> None:
    layer = layer_tar({"etc/os-release": b"ID=debian\n"})
    archive = docker_save(tmp_path / "app.tar", layer, sha(b"something else"))
    fetcher = ImageFetcher(BlobCache(tmp_path / "cache"), lambda host: pytest.fail(), Settings())
    with pytest.raises(DigestMismatchError, match="diff_id"):
        fetcher.fetch(parse_reference(f"docker-archive:{archive}"))
