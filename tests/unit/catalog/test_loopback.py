"""The loopback registry serves exactly one pinned image's blobs, by digest."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import httpx
import pytest

from service.catalog.loopback import LoopbackRegistry
from service.errors import DigestMismatchError
from service.image.download import LayerDownload
from service.image.model import ImageConfig, ImageReference, PinnedImage, Platform, Transport
from tests.support.oci import MEDIA_MANIFEST, BuiltImage, ImageSpec, write_image


@pytest.fixture
def built(tmp_path: Path) -> tuple[BuiltImage, PinnedImage]:
    layout = tmp_path / "layout"
    image = write_image(layout, ImageSpec(layers=[{"etc/os-release": b"ID=test\n"}]), tag="1")
    pinned = PinnedImage(
        reference=ImageReference(transport=Transport.OCI_DIR, path=str(layout)),
        display_name=f"oci-dir:{layout}",
        digest=image.digest,
        platform=Platform(os="linux", architecture="amd64"),
        media_type=MEDIA_MANIFEST,
        layout=layout,
        config_digest=image.config_digest,
        layers=tuple(layer.digest for layer in image.layers),
        size=image.size,
        config=ImageConfig(),
    )
    return image, pinned


def _split(reference: str) -> tuple[str, str, str]:
    host, _, rest = reference.partition("/")
    repository, _, digest = rest.partition("@")
    return f"http://{host}", repository, digest


def test_serves_the_manifest_and_every_blob_it_names(
    built: tuple[BuiltImage, PinnedImage],
) -> None:
    image, pinned = built
    with LoopbackRegistry(pinned) as served, httpx.Client() as client:
        base, repository, digest = _split(served.reference)
        assert digest == image.digest
        assert client.get(f"{base}/v2/").status_code == 200
        manifest = client.get(f"{base}/v2/{repository}/manifests/{digest}")
        assert manifest.headers["content-type"] == MEDIA_MANIFEST
        assert manifest.headers["docker-content-digest"] == digest
        assert f"sha256:{hashlib.sha256(manifest.content).hexdigest()}" == digest
        for blob in (pinned.config_digest, *pinned.layers):
            head = client.head(f"{base}/v2/{repository}/blobs/{blob}")
            assert head.status_code == 200 and not head.content
            body = client.get(f"{base}/v2/{repository}/blobs/{blob}").content
            assert int(head.headers["content-length"]) == len(body)
            assert f"sha256:{hashlib.sha256(body).hexdigest()}" == blob


def _held_back(pinned: PinnedImage, layer: str) -> tuple[bytes, Path]:
    """Take ``layer`` out of the layout's blobs (as if not downloaded yet)."""
    path = pinned.layout / "blobs" / "sha256" / layer.split(":")[1]
    content = path.read_bytes()
    path.unlink()
    return content, path


def test_a_layer_still_arriving_is_served_once_it_is_stored(
    built: tuple[BuiltImage, PinnedImage],
) -> None:
    _, pinned = built
    layer = pinned.layers[0]
    content, path = _held_back(pinned, layer)
    requested = threading.Event()

    def store(digest: str) -> None:
        requested.wait(timeout=5)  # the engine asks before the layer is there
        incoming = path.with_name(".incoming")
        incoming.write_bytes(content)
        incoming.replace(path)  # published whole, as the blob cache does

    arrivals = LayerDownload([layer], store)
    with LoopbackRegistry(pinned, arrivals) as served, httpx.Client() as client:
        base, repository, _ = _split(served.reference)
        threading.Timer(0.1, requested.set).start()
        response = client.get(f"{base}/v2/{repository}/blobs/{layer}")
    assert response.status_code == 200 and response.content == content
    arrivals.finish()


def test_a_layer_that_never_arrives_is_not_found(
    built: tuple[BuiltImage, PinnedImage],
) -> None:
    _, pinned = built
    layer = pinned.layers[0]
    _held_back(pinned, layer)

    def fail(digest: str) -> None:
        raise DigestMismatchError(f"blob {digest} does not match its digest")

    arrivals = LayerDownload([layer], fail)
    with LoopbackRegistry(pinned, arrivals) as served, httpx.Client() as client:
        base, repository, _ = _split(served.reference)
        assert client.get(f"{base}/v2/{repository}/blobs/{layer}").status_code == 404
    with pytest.raises(DigestMismatchError):
        arrivals.finish()


def test_nothing_else_is_served(built: tuple[BuiltImage, PinnedImage]) -> None:
    _, pinned = built
    with LoopbackRegistry(pinned) as served, httpx.Client() as client:
        base, repository, digest = _split(served.reference)
        assert base.startswith("http://127.0.0.1:")
        unknown = "sha256:" + "0" * 64
        for path in (
            f"/v2/tollgate/other/manifests/{digest}",
            f"/v2/{repository}/manifests/1",
            f"/v2/{repository}/blobs/{unknown}",
            f"/v2/{repository}/blobs/{digest}/../{unknown}",
            "/v2/_catalog",
        ):
            assert client.get(base + path).status_code == 404, path


def test_the_endpoint_closes_with_the_block(built: tuple[BuiltImage, PinnedImage]) -> None:
    _, pinned = built
    with LoopbackRegistry(pinned) as served:
        base, _, _ = _split(served.reference)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/v2/")
