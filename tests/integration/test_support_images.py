"""The real test image: what is in it is what the real packages put there, and Syft sees it."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.images import PushedImage
from tests.support.oci import MEDIA_MANIFEST, read_blob_json

pytestmark = pytest.mark.integration

SYFT = Path(sys.executable).parent / "syft"


def _layer_file(image: PushedImage, layer: int, path: str) -> bytes:
    manifest = read_blob_json(image.layout, image.digest)
    blob = manifest["layers"][layer]["digest"].split(":", 1)[1]
    with tarfile.open(image.layout / "blobs" / "sha256" / blob, "r:gz") as tar:
        extracted = tar.extractfile(path)
        assert extracted is not None
        return extracted.read()


def _dpkg_status_packages(image: PushedImage) -> set[tuple[str, str]]:
    status = _layer_file(image, 0, "var/lib/dpkg/status").decode()
    packages = set()
    for stanza in status.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line)
        assert fields["Status"] == "install ok installed"
        packages.add((fields["Package"], fields["Version"]))
    return packages


def test_registry_serves_the_layout_manifest(debian_app_image: PushedImage) -> None:
    host, _, _ = debian_app_image.reference.partition("/")
    response = httpx.get(
        f"http://{host}/v2/{debian_app_image.repository}/manifests/{debian_app_image.tag}",
        headers={"Accept": MEDIA_MANIFEST},
    )
    response.raise_for_status()
    assert f"sha256:{hashlib.sha256(response.content).hexdigest()}" == debian_app_image.digest
    assert debian_app_image.digest == debian_app_image.built.digest
    assert len(response.json()["layers"]) == 3


def test_dpkg_database_lists_what_apt_resolved(debian_app_image: PushedImage) -> None:
    assert _dpkg_status_packages(debian_app_image) == set(debian_app_image.built.debian_packages)
    os_release = _layer_file(debian_app_image, 0, "usr/lib/os-release").decode()
    assert 'VERSION_ID="12"' in os_release


def test_config_names_user_history_and_layers(debian_app_image: PushedImage) -> None:
    manifest = read_blob_json(debian_app_image.layout, debian_app_image.digest)
    config = read_blob_json(debian_app_image.layout, manifest["config"]["digest"])
    assert config["config"]["User"] == "app"
    assert "Healthcheck" not in config["config"]
    assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
    layer_history = [h for h in config["history"] if not h.get("empty_layer")]
    assert len(layer_history) == len(manifest["layers"])


def test_syft_catalogs_every_installed_package(debian_app_image: PushedImage) -> None:
    result = subprocess.run(
        [str(SYFT), "scan", f"oci-dir:{debian_app_image.layout}", "-o", "json", "-q"],
        # offline: no update check against the internet
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
        capture_output=True,
        check=True,
        timeout=240,
    )
    artifacts = json.loads(result.stdout)["artifacts"]
    by_type = Counter(artifact["type"] for artifact in artifacts)
    found = {(a["type"], a["name"].lower(), a["version"]) for a in artifacts}
    built = debian_app_image.built
    assert by_type["deb"] == len(_dpkg_status_packages(debian_app_image))
    assert {("python", name, version) for name, version in built.python_packages} <= found
    assert {("npm", name, version) for name, version in built.npm_packages} <= found
