"""ImageFetcher over a fake registry and over OCI layouts / archives written in the test."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from service.acquire.fetcher import ImageFetcher
from service.errors import DigestMismatchError, ImageError, NotFoundError
from service.image.cache import BlobCache
from service.image.model import Platform
from service.image.reference import parse_reference
from service.registry.client import RegistryClient
from service.settings import Settings
from tests.unit.registry.fakes import OCI_INDEX, OCI_MANIFEST, FakeRegistry, Image, build_image, sha

HOST = "127.0.0.1:5000"


def make_fetcher(fake: FakeRegistry, cache_dir: Path) -> ImageFetcher:
    client = RegistryClient(HOST, transport=fake.transport(), sleep=lambda _: None)
    return ImageFetcher(BlobCache(cache_dir), lambda host: client, Settings())


def test_fetch_pins_and_second_fetch_downloads_no_blob(tmp_path: Path) -> None:
    fake = FakeRegistry()
    image = build_image({"etc/os-release": b"ID=alpine\n"}, user="app")
    fake.push("team/app", image, tag="1.0")
    fetcher = make_fetcher(fake, tmp_path)
    progress: list[int] = []
    pinned = fetcher.fetch(
        parse_reference(f"{HOST}/team/app:1.0"), progress=lambda d, n, t: progress.append(n)
    )
    assert pinned.digest == image.digest
    assert pinned.display_name == f"{HOST}/team/app:1.0"
    assert pinned.config.user == "app" and pinned.config.cmd == ("/bin/sh",)
    assert pinned.platform == Platform(os="linux", architecture="amd64")
    assert pinned.layers == tuple(sha(layer) for layer in image.layers)
    assert pinned.size == len(image.config) + sum(len(layer) for layer in image.layers)
    assert progress[-1] == len(image.layers[0])
    index = json.loads((pinned.layout / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [image.digest]
    assert (pinned.layout / "blobs" / "sha256" / image.digest.removeprefix("sha256:")).is_file()
    assert fake.count("blobs") == {"GET": 2}

    again = make_fetcher(fake, tmp_path).fetch(parse_reference(f"{HOST}/team/app:1.0"))
    assert again == pinned
    assert fake.count("blobs") == {"GET": 2}  # nothing new


def test_multi_platform_index_selects_variant_like_containerd(tmp_path: Path) -> None:
    fake = FakeRegistry()
    amd = build_image({"arch": b"amd64"})
    arm = build_image({"arch": b"arm64"}, arch="arm64", variant="v8")
    index_digest = fake.push_index("team/multi", [amd, arm], tag="latest")
    fetcher = make_fetcher(fake, tmp_path)
    ref = parse_reference(f"{HOST}/team/multi")
    pinned = fetcher.fetch(ref, Platform(os="linux", architecture="arm64"))
    assert (pinned.digest, pinned.index_digest) == (arm.digest, index_digest)
    assert fetcher.fetch(ref).digest == amd.digest  # settings default linux/amd64
    with pytest.raises(ImageError, match="available: linux/amd64, linux/arm64/v8"):
        fetcher.fetch(ref, Platform(os="linux", architecture="s390x"))
    everything = fetcher.fetch_all_platforms(ref)
    assert [p.digest for p in everything] == [amd.digest, arm.digest]


def test_single_platform_image_refuses_other_requested_platform(tmp_path: Path) -> None:
    fake = FakeRegistry()
    fake.push("team/app", build_image({"a": b"b"}), tag="1.0")
    with pytest.raises(ImageError, match="single-platform image for linux/amd64"):
        make_fetcher(fake, tmp_path).fetch(
            parse_reference(f"{HOST}/team/app:1.0"), Platform(os="linux", architecture="arm64")
        )


def test_tampered_layer_is_refused(tmp_path: Path) -> None:
    fake = FakeRegistry()
    image = build_image({"a": b"b"})
    fake.push("team/app", image, tag="1.0")
    fake.corrupt.add(sha(image.layers[0]))
    with pytest.raises(DigestMismatchError):
        make_fetcher(fake, tmp_path).fetch(parse_reference(f"{HOST}/team/app:1.0"))


def write_layout(root: Path, image: Image, tag: str = "v1") -> None:
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    for digest, data in {**image.blobs(), image.digest: image.manifest}.items():
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {
        "mediaType": OCI_MANIFEST,
        "digest": image.digest,
        "size": len(image.manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag},
    }
    (root / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})
    )


def test_oci_dir_and_oci_archive(tmp_path: Path) -> None:
    image = build_image({"etc/issue": b"hello"})
    layout = tmp_path / "layout"
    write_layout(layout, image)
    fetcher = ImageFetcher(BlobCache(tmp_path / "cache"), lambda host: pytest.fail(), Settings())
    from_dir = fetcher.fetch(parse_reference(f"oci-dir:{layout}:v1"))
    assert from_dir.digest == image.digest
    with pytest.raises(NotFoundError, match="available tags: v1"):
        fetcher.fetch(parse_reference(f"oci-dir:{layout}:v2"))
    archive = tmp_path / "app.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(layout, arcname=".")
    assert fetcher.fetch(parse_reference(f"oci-archive:{archive}")).digest == image.digest


def test_oci_dir_with_tampered_blob_is_refused(tmp_path: Path) -> None:
    image = build_image({"etc/issue": b"hello"})
    write_layout(tmp_path / "layout", image)
    layer = tmp_path / "layout" / "blobs" / "sha256" / sha(image.layers[0]).removeprefix("sha256:")
    layer.write_bytes(layer.read_bytes() + b"evil")
    fetcher = ImageFetcher(BlobCache(tmp_path / "cache"), lambda host: pytest.fail(), Settings())
    with pytest.raises(DigestMismatchError, match="tampered"):
        fetcher.fetch(parse_reference(f"oci-dir:{tmp_path / 'layout'}"))
