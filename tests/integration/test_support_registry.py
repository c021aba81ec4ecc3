"""The test infrastructure itself: local registry, deterministic layouts, push, archives."""

from __future__ import annotations

import hashlib
import http.server
import json
import queue
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.archives import write_docker_archive, write_oci_archive
from tests.support.oci import (
    MEDIA_INDEX,
    MEDIA_MANIFEST,
    Dir,
    File,
    ImageSpec,
    Symlink,
    Whiteout,
    push,
    read_blob_json,
    write_image,
    write_index,
)
from tests.support.registry import BasicAuth, LocalRegistry

pytestmark = pytest.mark.integration

ACCEPT = f"{MEDIA_MANIFEST}, {MEDIA_INDEX}"


def _tiny_spec(marker: str = "one", architecture: str = "amd64") -> ImageSpec:
    return ImageSpec(
        layers=[
            {
                "etc/os-release": b"ID=tollgate-test\n",
                "bin/tool": File(b"#!/bin/sh\necho " + marker.encode() + b"\n", mode=0o755),
                "usr/bin/tool": Symlink("/bin/tool"),
                "var/empty": Dir(mode=0o700),
            },
            {"etc/os-release": Whiteout(), "etc/marker": marker.encode()},
        ],
        architecture=architecture,
        user="1000:1000",
        labels={"org.opencontainers.image.title": "tiny"},
    )


def test_registry_answers_only_on_loopback(registry: LocalRegistry) -> None:
    assert registry.host.startswith("127.0.0.1:")
    response = httpx.get(f"{registry.url}/v2/")
    assert response.status_code == 200


def test_layouts_are_reproducible(tmp_path: Path) -> None:
    first = write_image(tmp_path / "a", _tiny_spec(), tag="1")
    second = write_image(tmp_path / "b", _tiny_spec(), tag="1")
    other = write_image(tmp_path / "c", _tiny_spec("two"), tag="1")
    assert (first.digest, first.config_digest, first.diff_ids) == (
        second.digest,
        second.config_digest,
        second.diff_ids,
    )
    assert first.digest != other.digest
    config = read_blob_json(tmp_path / "a", first.config_digest)
    assert config["rootfs"]["diff_ids"] == list(first.diff_ids)
    assert config["config"]["User"] == "1000:1000"
    assert len(config["history"]) == 2


def test_layer_tar_holds_entries_with_fixed_metadata(tmp_path: Path) -> None:
    image = write_image(tmp_path, _tiny_spec(), tag="1")
    with tarfile.open(image.layers[0].path, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert sorted(members) == [
        "bin",
        "bin/tool",
        "etc",
        "etc/os-release",
        "usr",
        "usr/bin",
        "usr/bin/tool",
        "var",
        "var/empty",
    ]
    assert members["usr/bin/tool"].linkname == "/bin/tool"
    assert members["bin/tool"].mode == 0o755
    assert {(m.uid, m.gid, m.mtime) for m in members.values()} == {(0, 0, 1_700_000_000)}
    with tarfile.open(image.layers[1].path, "r:gz") as tar:
        assert "etc/.wh.os-release" in tar.getnames()


def test_pushed_manifest_digest_matches_layout(registry: LocalRegistry, tmp_path: Path) -> None:
    image = write_image(tmp_path, _tiny_spec(), tag="1")
    pushed = push(tmp_path, "1", registry.host, "support-test/tiny")
    response = httpx.get(
        f"{registry.url}/v2/support-test/tiny/manifests/1", headers={"Accept": ACCEPT}
    )
    response.raise_for_status()
    assert pushed == image.digest
    assert f"sha256:{hashlib.sha256(response.content).hexdigest()}" == image.digest
    assert response.headers["Docker-Content-Digest"] == image.digest
    blob = httpx.get(f"{registry.url}/v2/support-test/tiny/blobs/{image.layers[0].digest}")
    assert hashlib.sha256(blob.content).hexdigest() == image.layers[0].digest.split(":")[1]


def test_multi_platform_index_is_pushed_whole(registry: LocalRegistry, tmp_path: Path) -> None:
    built = write_index(
        tmp_path, [_tiny_spec("amd"), _tiny_spec("arm", architecture="arm64")], tag="multi"
    )
    assert push(tmp_path, "multi", registry.host, "support-test/multi") == built.digest
    index = httpx.get(
        f"{registry.url}/v2/support-test/multi/manifests/multi", headers={"Accept": ACCEPT}
    ).json()
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    for image in built.images:
        response = httpx.get(
            f"{registry.url}/v2/support-test/multi/manifests/{image.digest}",
            headers={"Accept": ACCEPT},
        )
        assert response.status_code == 200


def test_basic_auth_registry_refuses_anonymous_push(tmp_path: Path) -> None:
    write_image(tmp_path / "layout", _tiny_spec(), tag="1")
    auth = BasicAuth("tollgate", "s3cret-pass")
    with LocalRegistry(tmp_path / "registry", auth=auth) as secured:
        assert httpx.get(f"{secured.url}/v2/").status_code == 401
        with pytest.raises(RuntimeError, match="failed"):
            push(tmp_path / "layout", "1", secured.host, "support-test/auth")
        creds = f"{auth.username}:{auth.password}"
        push(tmp_path / "layout", "1", secured.host, "support-test/auth", creds=creds)
        tags = httpx.get(
            f"{secured.url}/v2/support-test/auth/tags/list", auth=(auth.username, auth.password)
        )
        assert tags.json()["tags"] == ["1"]


def _skopeo_inspect(reference: str) -> dict[str, object]:
    out = subprocess.run(
        ["skopeo", "inspect", "--config", reference], capture_output=True, check=True
    ).stdout
    loaded: dict[str, object] = json.loads(out)
    return loaded


def test_archives_are_readable_by_skopeo(tmp_path: Path) -> None:
    image = write_image(tmp_path / "layout", _tiny_spec(), tag="1")
    docker = write_docker_archive(
        tmp_path / "layout", "1", tmp_path / "docker.tar", repo_tag="tiny:1"
    )
    oci = write_oci_archive(tmp_path / "layout", tmp_path / "oci.tar")
    expected = read_blob_json(tmp_path / "layout", image.config_digest)["rootfs"]
    assert _skopeo_inspect(f"docker-archive:{docker}")["rootfs"] == expected
    assert _skopeo_inspect(f"oci-archive:{oci}:1")["rootfs"] == expected
    again = write_docker_archive(
        tmp_path / "layout", "1", tmp_path / "again.tar", repo_tag="tiny:1"
    )
    assert again.read_bytes() == docker.read_bytes()


class _EventSink(http.server.BaseHTTPRequestHandler):
    received: queue.Queue[tuple[str | None, dict[str, Any]]] = queue.Queue()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.put((self.headers["Authorization"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


def test_registry_posts_push_notifications_with_bearer_token(tmp_path: Path) -> None:
    write_image(tmp_path / "layout", _tiny_spec(), tag="1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EventSink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sink_url = f"http://127.0.0.1:{server.server_address[1]}/events"
    try:
        with LocalRegistry(
            tmp_path / "registry", notifications_url=sink_url, notifications_token="tok-123"
        ) as notifying:
            digest = push(tmp_path / "layout", "1", notifying.host, "support-test/notify")
            pushes: list[dict[str, Any]] = []
            while not pushes:
                authorization, envelope = _EventSink.received.get(timeout=30)
                assert authorization == "Bearer tok-123"
                pushes = [
                    event
                    for event in envelope["events"]
                    if event["action"] == "push" and event["target"]["digest"] == digest
                ]
            assert pushes[0]["target"]["repository"] == "support-test/notify"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
