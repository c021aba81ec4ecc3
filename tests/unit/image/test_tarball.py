"""An image archive's outer tar, read in place: hostile members refused, bombs stopped,
members stored into the blob cache in one pass (seekable), or all at once (streamed)."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from service.errors import DigestMismatchError, ImageError, UnsafeArchiveError
from service.image.cache import BlobCache
from service.image.inflation import MAX_RATIO, RATIO_FLOOR_BYTES
from service.image.tarball import open_tarball
from tests.unit.registry.fakes import layer_tar, sha

Packer = Callable[[bytes], bytes]
OUTER: dict[str, Packer] = {
    "tar": lambda data: data,
    "tar.gz": lambda data: gzip.compress(data, mtime=0),
    "tar.zst": lambda data: zstandard.ZstdCompressor().compress(data),
}
ZSTD_BLOB = "blobs/sha256/" + "ab" * 32


def _file(name: str, data: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def tar_bytes(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def archive(path: Path, *members: tuple[tarfile.TarInfo, bytes], pack: str = "tar") -> Path:
    path.write_bytes(OUTER[pack](tar_bytes(*members)))
    return path


def files(entries: dict[str, bytes]) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [(_file(name, data), data) for name, data in entries.items()]


def listed(path: Path, cache: BlobCache) -> None:
    """Open (list or stream) the archive at ``path``, and nothing more."""
    with open_tarball(path, cache):
        pass


def leftovers(cache: BlobCache) -> list[str]:
    return [p.name for p in cache.blobs_dir.iterdir() if p.name.startswith(".incoming")]


@pytest.mark.parametrize("pack", ["tar", "tar.gz"])
@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_file("../escape.txt", b"x"), "path traversal"),
        (_file("a/../../escape.txt", b"x"), "path traversal"),
        (_file("/etc/passwd-evil", b"x"), "absolute path"),
        (special("link", tarfile.SYMTYPE, "/etc/passwd"), "absolute path"),
        (special("link", tarfile.SYMTYPE, "../../outside"), "symlink escaping"),
        (special("hard", tarfile.LNKTYPE, "../outside"), "hard link escaping"),
        (special("dev", tarfile.CHRTYPE), "device"),
        (special("blk", tarfile.BLKTYPE), "device"),
        (special("fifo", tarfile.FIFOTYPE), "FIFO"),
    ],
)
def test_hostile_members_are_refused_by_name(
    tmp_path: Path, member: tarfile.TarInfo, why: str, pack: str
) -> None:
    """Nothing is extracted any more, yet a hostile member still condemns the archive."""
    evil = archive(
        tmp_path / "evil", (_file("ok.txt", b"fine"), b"fine"), (member, b"x"), pack=pack
    )
    with pytest.raises(UnsafeArchiveError, match=why) as raised:
        listed(evil, BlobCache(tmp_path / "cache"))
    assert repr(member.name) in str(raised.value)


def test_links_resolve_inside_the_archive_only(tmp_path: Path) -> None:
    path = archive(
        tmp_path / "links.tar",
        *files({"blobs/sha256/real": b"layer"}),
        (special("legacy/layer.tar", tarfile.SYMTYPE, "../blobs/sha256/real"), b""),
        (special("hard", tarfile.LNKTYPE, "legacy/layer.tar"), b""),
        (special("p/q/r", tarfile.SYMTYPE, "../../t"), b""),
        (special("z", tarfile.SYMTYPE, "p/q/r/../.."), b""),
        (special("loop", tarfile.SYMTYPE, "loop"), b""),
    )
    with open_tarball(path, BlobCache(tmp_path / "cache")) as tarball:
        assert tarball.find("./legacy/layer.tar", "layer") == "blobs/sha256/real"
        assert tarball.find("hard", "layer") == "blobs/sha256/real"
        assert tarball.read(tarball.member("hard", "layer"), 100) == b"layer"
        assert tarball.find("loop", "layer") is None
        # each link looks harmless lexically; a directory link is never followed
        assert tarball.find("z/escaped.txt", "layer") is None
        for hostile in ("../x", "/etc/passwd", "a/../../x"):
            with pytest.raises(UnsafeArchiveError, match="not a file inside it"):
                tarball.member(hostile, "docker-archive Layers entry")


def test_outer_decompression_bomb_is_refused(tmp_path: Path) -> None:
    size = RATIO_FLOOR_BYTES + (1 << 20)
    info = _file("zeros", b"")
    info.size = size
    bomb = archive(tmp_path / "bomb.tar.gz", (info, bytes(size)), pack="tar.gz")
    assert size > MAX_RATIO * bomb.stat().st_size
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(UnsafeArchiveError, match="decompression bomb") as raised:
        listed(bomb, cache)
    assert "'zeros'" in str(raised.value)
    assert list(cache.blobs_dir.iterdir()) == []


def refused_when_stored(path: Path, cache: BlobCache, phrase: str) -> str:
    """Why storing the archive's ZSTD_BLOB member is refused (it must be, with ``phrase``)."""
    with (
        pytest.raises(UnsafeArchiveError, match=phrase) as raised,
        open_tarball(path, cache) as tarball,
    ):
        tarball.store(tarball.member(ZSTD_BLOB, "blob"), None, "blob")
    return str(raised.value)


def _zstd_bomb(honest_frames: int) -> bytes:
    compress = zstandard.ZstdCompressor().compress
    zeros = layer_tar({"zeros": bytes(RATIO_FLOOR_BYTES + (1 << 20))})
    return compress(b"honest") * honest_frames + compress(zeros)


@pytest.mark.parametrize(
    "blob",
    [
        gzip.compress(layer_tar({"zeros": bytes(RATIO_FLOOR_BYTES + (1 << 20))})),
        _zstd_bomb(0),
        _zstd_bomb(1),
    ],
    ids=["gzip", "zstd-one-frame", "zstd-bomb-after-small-frame"],
)
@pytest.mark.parametrize("pack", ["tar", "tar.gz"])
def test_layer_bomb_is_refused_as_it_is_stored(tmp_path: Path, blob: bytes, pack: str) -> None:
    """A gzip or zstd blob counts at its inflated size, every frame of it."""
    path = archive(tmp_path / "bomb-oci", *files({ZSTD_BLOB: blob}), pack=pack)
    assert MAX_RATIO * path.stat().st_size < RATIO_FLOOR_BYTES
    cache = BlobCache(tmp_path / "cache")
    assert repr(ZSTD_BLOB) in refused_when_stored(path, cache, "decompression bomb")
    assert list(cache.blobs_dir.iterdir()) == []


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
    path = archive(tmp_path / "window-oci.tar", *files({ZSTD_BLOB: blob.getvalue()}))
    cache = BlobCache(tmp_path / "cache")
    assert repr(ZSTD_BLOB) in refused_when_stored(path, cache, "zstd window")
    assert leftovers(cache) == []


@pytest.mark.parametrize("pack", list(OUTER))
def test_members_are_stored_verified_into_the_cache(tmp_path: Path, pack: str) -> None:
    layer = zstandard.ZstdCompressor().compress(layer_tar({"etc/os-release": b"ID=debian\n"}))
    path = archive(tmp_path / "oci", *files({"index.json": b"{}", ZSTD_BLOB: layer}), pack=pack)
    cache = BlobCache(tmp_path / "cache")
    with open_tarball(path, cache) as tarball:
        name = tarball.member(ZSTD_BLOB, "blob")
        assert tarball.index_file("index.json") == b"{}"
        assert tarball.index_file("manifest.json") is None
        assert tarball.head(name) == layer[:4]
        with pytest.raises(DigestMismatchError, match="tampered"):
            tarball.store(name, sha(b"something else"), f"blob {name}")
        assert tarball.store(name, sha(layer), f"blob {name}") == sha(layer)
    assert cache.path(sha(layer)).read_bytes() == layer
    assert leftovers(cache) == []


def test_a_streamed_archive_skips_blobs_the_cache_holds(tmp_path: Path) -> None:
    """A ``blobs/sha256/<hex>`` member already cached is never hashed nor written: the
    cached blob is the content that digest names, whatever bytes the archive carries."""
    layer = layer_tar({"etc/os-release": b"ID=debian\n"})
    cache = BlobCache(tmp_path / "cache")
    cache.put_bytes(layer)
    corrupted = bytes([layer[0] ^ 0xFF]) + layer[1:]
    name = f"blobs/sha256/{sha(layer).removeprefix('sha256:')}"
    path = archive(tmp_path / "oci.tar.gz", *files({name: corrupted}), pack="tar.gz")
    with open_tarball(path, cache) as tarball:
        assert tarball.store(tarball.member(name, "blob"), sha(layer), "blob") == sha(layer)
    assert cache.path(sha(layer)).read_bytes() == layer
    assert not cache.has(sha(corrupted))


@pytest.mark.parametrize("pack", list(OUTER))
def test_what_is_not_a_tar_is_refused(tmp_path: Path, pack: str) -> None:
    path = tmp_path / "junk"
    path.write_bytes(OUTER[pack](b"not a tar at all, not even close" * 40))
    with pytest.raises(ImageError, match="not a readable tar archive"):
        listed(path, BlobCache(tmp_path / "cache"))


@pytest.mark.parametrize("pack", ["tar", "tar.gz"])
def test_truncated_archive_is_refused(tmp_path: Path, pack: str) -> None:
    whole = tar_bytes(*files({"a": b"x" * 4096, "b": b"y" * 4096}))
    path = tmp_path / "cut"
    path.write_bytes(OUTER[pack](whole[: 512 + 1024]))  # inside member a's data
    with pytest.raises(ImageError, match="not a readable tar archive"):
        listed(path, BlobCache(tmp_path / "cache"))
