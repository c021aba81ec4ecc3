"""The blob cache's atomic, verified writes; manifest/config parsing; platform matching."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.errors import DigestMismatchError, ImageError, UnsupportedMediaTypeError
from service.image.cache import BlobCache
from service.image.manifest import (
    OCI_INDEX,
    ImageIndex,
    parse_image_config,
    parse_manifest,
    parse_platform,
    select_platform,
)
from service.image.model import Platform
from tests.unit.registry.fakes import build_image, build_index, sha


def test_concurrent_writers_of_one_blob_both_succeed(tmp_path: Path) -> None:
    data = b"layer" * 100_000
    caches = [BlobCache(tmp_path) for _ in range(4)]
    threads = [threading.Thread(target=cache.put_bytes, args=(data,)) for cache in caches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert caches[0].path(sha(data)).read_bytes() == data
    assert [p.name for p in caches[0].blobs_dir.iterdir()] == [sha(data).removeprefix("sha256:")]


def test_wrong_content_is_never_published(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with pytest.raises(DigestMismatchError, match="tampered"):
        cache.put_bytes(b"evil", expected=sha(b"good"))
    assert list(cache.blobs_dir.iterdir()) == []


def test_a_blob_of_unknown_digest_is_published_under_what_it_hashes_to(tmp_path: Path) -> None:
    cache = BlobCache(tmp_path)
    with cache.writer(None, "evidence") as sink:
        sink.write(b"lay")
        sink.write(b"er")
    assert sink.hasher.digest == sha(b"layer")
    assert cache.read_bytes(sha(b"layer"), max_size=10) == b"layer"
    with pytest.raises(RuntimeError), cache.writer(None, "evidence") as sink:
        sink.write(b"half")
        raise RuntimeError("the read failed")
    assert not cache.has(sha(b"half"))
    assert [p.name for p in cache.blobs_dir.iterdir()] == [sha(b"layer").split(":")[1]]


def test_index_platform_selection_and_listing() -> None:
    images = [
        build_image({"a": b"1"}),
        build_image({"a": b"2"}, arch="arm64", variant="v8"),
        build_image({"a": b"3"}, arch="arm", variant="v6"),
    ]
    index = parse_manifest(build_index(images), OCI_INDEX)
    assert isinstance(index, ImageIndex)
    pick = lambda text: select_platform(index, parse_platform(text), "img").digest  # noqa: E731
    assert pick("linux/arm64") == images[1].digest
    assert pick("linux/aarch64/v8") == images[1].digest
    assert pick("linux/x86_64") == images[0].digest
    assert pick("linux/arm/v7") == images[2].digest  # v7 runs v6 images
    with pytest.raises(ImageError, match="linux/amd64, linux/arm64/v8, linux/arm/v6"):
        pick("windows/amd64")


def test_config_is_parsed_into_typed_fields() -> None:
    raw = {
        "os": "linux",
        "architecture": "arm64",
        "variant": "v8",
        "created": "2024-01-01T00:00:00Z",
        "config": {
            "User": "1000",
            "Env": ["A=1"],
            "Entrypoint": ["/app"],
            "Cmd": None,
            "Labels": {"k": "v"},
            "Healthcheck": {"Test": ["CMD", "true"]},
        },
        "rootfs": {"type": "layers", "diff_ids": [sha(b"x")]},
        "history": [{"created_by": "RUN x", "empty_layer": True}],
    }
    config, platform = parse_image_config(json.dumps(raw).encode())
    assert platform == Platform(os="linux", architecture="arm64", variant="v8")
    assert (config.user, config.env, config.entrypoint, config.cmd) == (
        "1000",
        ("A=1",),
        ("/app",),
        (),
    )
    assert config.labels == {"k": "v"} and config.healthcheck == ("CMD", "true")
    assert config.diff_ids == (sha(b"x"),) and config.history[0].empty_layer


def test_unknown_layer_media_type_is_unsupported() -> None:
    image = build_image({"a": b"b"})
    document = json.loads(image.manifest)
    document["layers"][0]["mediaType"] = "application/vnd.example.weird"
    with pytest.raises(UnsupportedMediaTypeError, match="weird"):
        parse_manifest(json.dumps(document).encode(), document["mediaType"])


def _manifest_with(change: Callable[[dict[str, Any]], None]) -> tuple[bytes, str]:
    document = json.loads(build_image({"a": b"b"}).manifest)
    change(document)
    return json.dumps(document).encode(), document["mediaType"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.pop("config"), "config is missing"),
        (lambda d: d["config"].pop("digest"), "config: digest is missing"),
        (lambda d: d["layers"][0].update(size=-1), r"layers\[0\]: size must be a size"),
        (lambda d: d["layers"][0].update(size="12"), "size must be a whole number"),
        (lambda d: d["layers"][0].update(size=True), "size must be a whole number"),
        (lambda d: d["layers"][0].update(mediaType=7), "mediaType must be a string"),
        (lambda d: d["layers"][0].update(annotations={"k": 1}), "annotations must be"),
        (lambda d: d.update(layers={"not": "a list"}), "layers must be a list"),
        (lambda d: d["layers"].append("text"), r"layers\[1\]: expected a JSON object"),
        (lambda d: d["config"].update(digest="sha256:short"), "digest"),
    ],
)
def test_malformed_manifests_name_the_field(
    change: Callable[[dict[str, Any]], None], message: str
) -> None:
    content, media_type = _manifest_with(change)
    with pytest.raises(ImageError, match=message):
        parse_manifest(content, media_type)


def test_index_entries_need_a_platform_with_os_and_architecture() -> None:
    document = json.loads(build_index([build_image({"a": b"1"})]))
    document["manifests"][0]["platform"] = {"os": "linux", "os.version": "10"}
    with pytest.raises(ImageError, match="platform: architecture is missing"):
        parse_manifest(json.dumps(document).encode(), OCI_INDEX)
    document["manifests"][0]["platform"]["architecture"] = "amd64"
    index = parse_manifest(json.dumps(document).encode(), OCI_INDEX)
    assert isinstance(index, ImageIndex)
    assert index.manifests[0].platform == Platform(os="linux", architecture="amd64")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"created": "yesterday"}, "created is not a timestamp"),
        ({"config": {"Env": "A=1"}}, "Env must be a list of strings"),
        ({"config": {"Labels": {"k": 1}}}, "Labels must be an object of strings"),
        ({"history": [{"empty_layer": "yes"}]}, "empty_layer must be true or false"),
        ({"rootfs": []}, "rootfs: expected a JSON object"),
        ([], "not a JSON object"),
    ],
)
def test_malformed_configs_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        parse_image_config(json.dumps(raw).encode())


def test_config_timestamps_keep_their_zone_at_any_precision() -> None:
    config, platform = parse_image_config(b'{"created": "2023-10-11T22:55:07.123456789Z"}')
    assert config.created == datetime(2023, 10, 11, 22, 55, 7, 123456, tzinfo=UTC)
    assert platform == Platform(os="unknown", architecture="unknown")
