"""docker save and oci-archive tarballs pinned in place: the same image as from a layout,
every layer in the cache, a layer the cache holds never read from the archive."""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

from service.acquire.fetcher import ImageFetcher
from service.errors import DigestMismatchError, ImageError, UnsafeArchiveError
from service.image.cache import BlobCache
from service.image.model import PinnedImage
from service.image.reference import parse_reference
from service.settings import Settings
from tests.unit.image.test_fetcher import write_layout
from tests.unit.image.test_tarball import OUTER, files, leftovers, special, tar_bytes
from tests.unit.registry.fakes import OCI_LAYER, Image, layer_tar, manifest_document, sha

BASE = layer_tar({"etc/os-release": b"ID=debian\n"})
APP = layer_tar({"app/main.py": b"print('hello')\n"})


def _config(diff_ids: list[str]) -> bytes:
    return json.dumps(
        {
            "os": "linux",
            "architecture": "amd64",
            "config": {"User": "nobody"},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()


def docker_save(
    path: Path,
    layers: list[bytes],
    *,
    diff_ids: list[str] | None = None,
    pack: str = "tar",
    entries: dict[str, bytes] | None = None,
    layer_names: list[str] | None = None,
) -> Path:
    """The classic ``docker save`` shape: <config hex>.json, <n>/layer.tar, and
    manifest.json last; ``entries`` replace or add members."""
    config = _config(diff_ids if diff_ids is not None else [sha(layer) for layer in layers])
    config_name = sha(config).removeprefix("sha256:") + ".json"
    names = layer_names or [f"{n}/layer.tar" for n in range(len(layers))]
    manifest = [{"Config": config_name, "RepoTags": ["app:1"], "Layers": names}]
    members = {config_name: config, **dict(zip(names, layers, strict=False))}
    members["manifest.json"] = json.dumps(manifest).encode()
    path.write_bytes(OUTER[pack](tar_bytes(*files(members | (entries or {})))))
    return path


def oci_archive(path: Path, layers: list[tuple[str, bytes]], *, pack: str = "tar") -> Path:
    """An OCI layout of ``layers`` (media type, blob), tarred."""
    config = _config([sha(blob) for _, blob in layers])  # pinning counts diff_ids only
    manifest = json.dumps(manifest_document(config, layers)).encode()
    image = Image(manifest, config, [blob for _, blob in layers], {})
    layout = path.with_name(path.name + ".layout")
    write_layout(layout, image)
    members = {
        p.relative_to(layout).as_posix(): p.read_bytes() for p in layout.rglob("*") if p.is_file()
    }
    path.write_bytes(OUTER[pack](tar_bytes(*files(members))))
    return path


def fetch(cache: BlobCache, reference: str) -> PinnedImage:
    fetcher = ImageFetcher(cache, lambda host: pytest.fail("no registry here"), Settings())
    return fetcher.fetch(parse_reference(reference))


def _tampered(layer: bytes) -> bytes:
    """Same length, one byte flipped: only the hash can tell."""
    return layer[:100] + bytes([layer[100] ^ 0xFF]) + layer[101:]


@pytest.mark.parametrize("pack", list(OUTER))
def test_docker_archive_is_pinned_by_its_synthesized_manifest(tmp_path: Path, pack: str) -> None:
    archive = docker_save(tmp_path / "app", [BASE, APP], pack=pack)
    cache = BlobCache(tmp_path / "cache")
    pinned = fetch(cache, f"docker-archive:{archive}")
    config = _config([sha(BASE), sha(APP)])
    # the OCI manifest docker save's manifest.json describes
    synthesized = manifest_document(config, [(OCI_LAYER, BASE), (OCI_LAYER, APP)])
    assert pinned.digest == sha(json.dumps(synthesized, separators=(",", ":")).encode())
    assert (
        cache.path(pinned.digest).read_bytes()
        == json.dumps(synthesized, separators=(",", ":")).encode()
    )
    assert pinned.layers == (sha(BASE), sha(APP))
    assert pinned.config.user == "nobody"
    assert [cache.path(d).read_bytes() for d in pinned.layers] == [BASE, APP]
    assert json.loads((pinned.layout / "index.json").read_text())["manifests"][0]["digest"] == (
        pinned.digest
    )
    assert leftovers(cache) == []
    assert fetch(cache, f"docker-archive:{archive}").digest == pinned.digest


@pytest.mark.parametrize("pack", ["tar", "tar.gz"])
def test_docker_archive_layer_not_matching_diff_id_is_refused(tmp_path: Path, pack: str) -> None:
    archive = docker_save(tmp_path / "app", [BASE], diff_ids=[sha(b"something else")], pack=pack)
    cache = BlobCache(tmp_path / "cache")
    with pytest.raises(DigestMismatchError, match="diff_id"):
        fetch(cache, f"docker-archive:{archive}")
    assert not cache.has(sha(b"something else"))
    assert leftovers(cache) == []


def test_a_cached_layer_is_not_read_from_a_docker_archive(tmp_path: Path) -> None:
    """The second image shares BASE with the first; its copy of BASE is corrupted, which
    only reading it could tell. With BASE cached it is never read: the scan succeeds."""
    cache = BlobCache(tmp_path / "cache")
    fetch(cache, f"docker-archive:{docker_save(tmp_path / 'base.tar', [BASE])}")
    derived = docker_save(
        tmp_path / "derived.tar",
        [_tampered(BASE), APP],
        diff_ids=[sha(BASE), sha(APP)],
    )
    pinned = fetch(cache, f"docker-archive:{derived}")
    assert pinned.layers == (sha(BASE), sha(APP))
    assert cache.path(sha(BASE)).read_bytes() == BASE
    assert cache.path(sha(APP)).read_bytes() == APP
    with pytest.raises(DigestMismatchError, match="diff_id"):  # the corruption is real
        fetch(BlobCache(tmp_path / "cold"), f"docker-archive:{derived}")


def test_docker_archive_with_linked_and_compressed_layers(tmp_path: Path) -> None:
    """Docker 25+ names ``blobs/sha256/<hex>`` (legacy ``<id>/layer.tar`` links to it);
    a layer saved compressed is pinned by the digest of its compressed bytes."""
    compressed = gzip.compress(APP, mtime=0)
    base_blob = f"blobs/sha256/{sha(BASE).removeprefix('sha256:')}"
    archive = tmp_path / "docker25.tar"
    config = _config([sha(BASE), sha(APP)])
    config_name = f"blobs/sha256/{sha(config).removeprefix('sha256:')}"
    manifest = [{"Config": config_name, "Layers": ["legacy/layer.tar", "app.tar.gz"]}]
    members = files({config_name: config, base_blob: BASE, "app.tar.gz": compressed})
    link = special("legacy/layer.tar", tarfile.SYMTYPE, f"../{base_blob}")
    listing = files({"manifest.json": json.dumps(manifest).encode()})
    archive.write_bytes(tar_bytes(*members, (link, b""), *listing))
    cache = BlobCache(tmp_path / "cache")
    pinned = fetch(cache, f"docker-archive:{archive}")
    assert pinned.layers == (sha(BASE), sha(compressed))
    media_types = [
        layer["mediaType"] for layer in json.loads(cache.path(pinned.digest).read_bytes())["layers"]
    ]
    assert media_types == [OCI_LAYER, "application/vnd.oci.image.layer.v1.tar+gzip"]
    assert cache.path(sha(compressed)).read_bytes() == compressed


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ("../x.json", "Config"),
        ("/etc/passwd", "Config"),
        ("../../layer.tar", "Layers"),
        ("/etc/shadow", "Layers"),
        ("no/such/layer.tar", "Layers"),
    ],
)
def test_manifest_entries_outside_the_archive_are_refused(
    tmp_path: Path, entry: str, field: str
) -> None:
    archive = docker_save(tmp_path / "app.tar", [BASE])
    with tarfile.open(archive) as tar:
        listed = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    listed[0][field] = entry if field == "Config" else [entry]
    evil = docker_save(
        tmp_path / "evil.tar", [BASE], entries={"manifest.json": json.dumps(listed).encode()}
    )
    with pytest.raises(UnsafeArchiveError, match="not a file inside it") as raised:
        fetch(BlobCache(tmp_path / "cache"), f"docker-archive:{evil}")
    assert repr(entry) in str(raised.value)


@pytest.mark.parametrize(
    ("manifest", "phrase"),
    [
        (None, "manifest.json is missing or malformed"),
        (b"{not json", "manifest.json is missing or malformed"),
        (
            json.dumps([{"RepoTags": ["a:1"]}, {"RepoTags": ["b:1"]}]).encode(),
            r"exactly one image; this one lists \['a:1', 'b:1'\]",
        ),
        (json.dumps([{"Config": 7}]).encode(), "malformed Config entry"),
    ],
)
@pytest.mark.parametrize("pack", ["tar", "tar.gz"])
def test_docker_archives_that_are_not_one_image(
    tmp_path: Path, manifest: bytes | None, phrase: str, pack: str
) -> None:
    config = _config([sha(BASE)])
    members = {f"{sha(config).removeprefix('sha256:')}.json": config, "0/layer.tar": BASE}
    if manifest is not None:
        members["manifest.json"] = manifest
    archive = tmp_path / "app"
    archive.write_bytes(OUTER[pack](tar_bytes(*files(members))))
    with pytest.raises(ImageError, match=phrase):
        fetch(BlobCache(tmp_path / "cache"), f"docker-archive:{archive}")


@pytest.mark.parametrize("pack", list(OUTER))
def test_oci_archive_is_pinned_with_every_layer_cached(tmp_path: Path, pack: str) -> None:
    zstd_layer = zstandard.ZstdCompressor().compress(APP)
    layers = [(OCI_LAYER, BASE), ("application/vnd.oci.image.layer.v1.tar+zstd", zstd_layer)]
    archive = oci_archive(tmp_path / "oci", layers, pack=pack)
    cache = BlobCache(tmp_path / "cache")
    pinned = fetch(cache, f"oci-archive:{archive}")
    assert pinned.layers == (sha(BASE), sha(zstd_layer))
    assert cache.path(sha(zstd_layer)).read_bytes() == zstd_layer
    assert zstandard.ZstdDecompressor().decompress(cache.path(sha(zstd_layer)).read_bytes()) == APP
    assert leftovers(cache) == []


def test_a_cached_layer_is_not_read_from_an_oci_archive(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path / "cache")
    cache.put_bytes(BASE)
    archive = oci_archive(tmp_path / "oci.tar", [(OCI_LAYER, BASE), (OCI_LAYER, APP)])
    hex_base = sha(BASE).removeprefix("sha256:")
    with tarfile.open(archive) as tar:
        kept = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
    kept[f"blobs/sha256/{hex_base}"] = _tampered(BASE)
    archive.write_bytes(tar_bytes(*files(kept)))
    assert fetch(cache, f"oci-archive:{archive}").layers == (sha(BASE), sha(APP))
    assert cache.path(sha(BASE)).read_bytes() == BASE
    with pytest.raises(DigestMismatchError, match=hex_base):  # the corruption is real
        fetch(BlobCache(tmp_path / "cold"), f"oci-archive:{archive}")


def test_oci_archive_missing_a_blob_is_refused(tmp_path: Path) -> None:
    archive = oci_archive(tmp_path / "oci.tar", [(OCI_LAYER, BASE)])
    with tarfile.open(archive) as tar:
        kept = {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar
            if m.name != f"blobs/sha256/{sha(BASE).removeprefix('sha256:')}"
        }
    archive.write_bytes(tar_bytes(*files(kept)))
    with pytest.raises(ImageError, match=r"lacks blob .* incomplete"):
        fetch(BlobCache(tmp_path / "cache"), f"oci-archive:{archive}")
