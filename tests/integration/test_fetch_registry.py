"""Fetch images from a REAL Distribution registry on loopback (pushed with skopeo)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from service.acquire.fetcher import ImageFetcher
from service.errors import ManifestUnknownError, RegistryAuthError
from service.image.cache import BlobCache
from service.image.model import Platform
from service.image.reference import parse_reference
from service.registry.credentials import CredentialStore
from service.registry.factory import RegistryClientFactory
from service.secret import Secret
from service.settings import Settings
from tests.support.oci import ImageSpec, push, write_image, write_index
from tests.support.registry import BasicAuth, LocalRegistry

pytestmark = pytest.mark.integration


class CountingTransport(httpx.BaseTransport):
    """The real HTTP transport, remembering every request it sent."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.sent: list[tuple[str, str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        return self.inner.handle_request(request)

    def blob_gets(self) -> int:
        return sum(1 for method, path in self.sent if method == "GET" and "/blobs/" in path)


@pytest.fixture
def transport() -> Iterator[CountingTransport]:
    counting = CountingTransport()  # clients do not close it (BaseTransport.close is a no-op)
    yield counting
    counting.inner.close()


def fetcher_for(
    cache_dir: Path, transport: httpx.BaseTransport, settings: Settings
) -> Iterator[ImageFetcher]:
    factory = RegistryClientFactory(
        settings, CredentialStore.from_settings(settings), transport=transport
    )
    try:
        yield ImageFetcher(BlobCache(cache_dir), factory, settings)
    finally:
        factory.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(docker_config=tmp_path / "no-docker-config.json", data_dir=tmp_path / "data")


def test_pull_twice_downloads_each_blob_once_and_syft_scans_layout(
    registry: LocalRegistry, tmp_path: Path, transport: CountingTransport, settings: Settings
) -> None:
    layout = tmp_path / "layout"
    spec = ImageSpec(
        layers=[
            {"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n"},
            {"lib/apk/db/installed": b"P:musl\nV:1.2.4-r2\nA:x86_64\n\n"},
        ],
        user="app",
        cmd=("/bin/sh",),
    )
    built = write_image(layout, spec, tag="1.0")
    push(layout, "1.0", registry.host, "fetch-test/twice")
    ref = parse_reference(f"{registry.host}/fetch-test/twice:1.0")
    cache_dir = tmp_path / "cache"

    for fetcher in fetcher_for(cache_dir, transport, settings):
        pinned = fetcher.fetch(ref)
    assert pinned.digest == built.digest
    assert pinned.layers == tuple(layer.digest for layer in built.layers)
    assert pinned.config.diff_ids == built.diff_ids
    assert pinned.config.user == "app"
    assert transport.blob_gets() == 1 + len(built.layers)

    for fetcher in fetcher_for(cache_dir, transport, settings):  # a fresh process-like fetcher
        again = fetcher.fetch(ref)
    assert again == pinned
    assert transport.blob_gets() == 1 + len(built.layers)

    syft = Path(".venv/bin/syft")
    report = subprocess.run(
        [str(syft), f"oci-dir:{pinned.layout}", "-o", "syft-json", "-q"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    document = json.loads(report.stdout)
    assert document["source"]["metadata"]["manifestDigest"] == pinned.digest
    assert [a["name"] for a in document["artifacts"]] == ["musl"]


def test_multi_platform_index_selects_platform(
    registry: LocalRegistry, tmp_path: Path, transport: CountingTransport, settings: Settings
) -> None:
    layout = tmp_path / "layout"
    specs = [
        ImageSpec(layers=[{"etc/arch": b"amd64\n"}]),
        ImageSpec(layers=[{"etc/arch": b"arm64\n"}], architecture="arm64", variant="v8"),
        ImageSpec(layers=[{"etc/arch": b"armv7\n"}], architecture="arm", variant="v7"),
    ]
    built = write_index(layout, specs, tag="multi")
    push(layout, "multi", registry.host, "fetch-test/multi")
    ref = parse_reference(f"{registry.host}/fetch-test/multi:multi")
    for fetcher in fetcher_for(tmp_path / "cache", transport, settings):
        arm64 = fetcher.fetch(ref, Platform(os="linux", architecture="arm64"))
        default = fetcher.fetch(ref)
        every = fetcher.fetch_all_platforms(ref)
    assert arm64.digest == built.images[1].digest
    assert arm64.index_digest == built.digest
    assert default.digest == built.images[0].digest
    assert [p.digest for p in every] == [image.digest for image in built.images]
    index = json.loads((arm64.layout / "index.json").read_text())
    assert index["manifests"][0]["platform"]["architecture"] == "arm64"


def test_unknown_tag(
    registry: LocalRegistry, tmp_path: Path, transport: CountingTransport, settings: Settings
) -> None:
    for fetcher in fetcher_for(tmp_path / "cache", transport, settings):
        with pytest.raises(ManifestUnknownError):
            fetcher.fetch(parse_reference(f"{registry.host}/fetch-test/absent:nope"))


def test_basic_auth_registry(tmp_path: Path, transport: CountingTransport) -> None:
    auth = BasicAuth("tollgate", "correct-horse")
    with LocalRegistry(tmp_path / "authreg", auth=auth) as secured:
        layout = tmp_path / "layout"
        built = write_image(layout, ImageSpec(layers=[{"etc/x": b"x"}]), tag="1")
        push(layout, "1", secured.host, "fetch-test/private", creds="tollgate:correct-horse")
        ref = parse_reference(f"{secured.host}/fetch-test/private:1")
        good = json.dumps({secured.host: {"username": "tollgate", "password": "correct-horse"}})
        bad = json.dumps({secured.host: {"username": "tollgate", "password": "wrong"}})
        for secret, expected in [(good, built.digest), (bad, None)]:
            settings = Settings(
                registry_auth=Secret(secret),
                docker_config=tmp_path / "none.json",
                registry_retries=0,
            )
            for fetcher in fetcher_for(tmp_path / "cache", transport, settings):
                if expected is None:
                    with pytest.raises(RegistryAuthError, match="TOLLGATE_REGISTRY_AUTH"):
                        fetcher.fetch(ref)
                else:
                    assert fetcher.fetch(ref).digest == expected


def test_signing_operations_against_real_registry(
    registry: LocalRegistry, tmp_path: Path, settings: Settings
) -> None:
    layout = tmp_path / "layout"
    built = write_image(layout, ImageSpec(layers=[{"etc/y": b"y"}]), tag="1")
    push(layout, "1", registry.host, "fetch-test/signed")
    factory = RegistryClientFactory(settings, CredentialStore({}))
    client = factory(registry.host)
    try:
        assert client.head_manifest("fetch-test/signed", "1") == built.digest
        payload = client.put_blob("fetch-test/signed", b'{"payload": "signature"}')
        assert client.get_blob("fetch-test/signed", payload) == b'{"payload": "signature"}'
        assert client.put_blob("fetch-test/signed", b'{"payload": "signature"}') == payload
        empty = client.put_blob("fetch-test/signed", b"{}")
        artifact = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "artifactType": "application/vnd.dev.tollgate.test",
                "config": {
                    "mediaType": "application/vnd.oci.empty.v1+json",
                    "digest": empty,
                    "size": 2,
                },
                "layers": [
                    {"mediaType": "application/octet-stream", "digest": payload, "size": 24}
                ],
                "subject": {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": built.digest,
                    "size": built.size,
                },
            }
        ).encode()
        pushed = client.put_manifest(
            "fetch-test/signed", "sig", artifact, "application/vnd.oci.image.manifest.v1+json"
        )
        assert client.head_manifest("fetch-test/signed", "sig") == pushed
        # Distribution 2.8 has no referrers API: the sha256-<hex> tag index is the fallback
        assert client.get_referrers("fetch-test/signed", built.digest) == []
    finally:
        factory.close()
