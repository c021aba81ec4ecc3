"""Layers that lie on disk already (an OCI layout, a ``docker save`` archive) are read
and verified where they are when their evidence is all Syft needs: the blob cache gets
their evidence, not a copy of them. A layer that does not match its digest fails the
scan and leaves no analysis behind; one whose evidence cannot be kept is stored after
all, for Syft to read the whole image."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.catalog import syft
from service.catalog.model import Catalog
from service.catalog.syft import SyftCataloger, syft_environment
from service.errors import DigestMismatchError
from service.image.cache import BlobCache
from service.image.inplace import BlobRange
from service.image.reference import parse_reference
from service.layers import analyzer, child_read, standby
from service.layers.cache import LayerCache
from service.sbom import SbomFormat
from service.scanning import CatalogOutcome
from service.settings import Settings
from service.wiring import sbom_orchestrator
from tests.integration.test_syft_evidence_parity import _dist_info, _jar, _package_json, pinned
from tests.support.archives import write_docker_archive
from tests.support.layers import Hardlink, LayerEntries, Symlink
from tests.support.oci import ImageSpec, read_blob_json, write_image

pytestmark = [pytest.mark.integration]

TAG = "1"
BASE: LayerEntries = {
    "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
    "etc/os-release": Symlink("../usr/lib/os-release"),
    **_dist_info("six", "1.16.0"),
}
APP: LayerEntries = {
    "app/node_modules/qs/package.json": _package_json("qs", "6.2.0"),
    "app/lib/demo.jar": _jar(),  # a Java archive: Syft reads the evidence image
    "app/data.bin": b"\x00application data\n" * 4096,
}
# a package.json whose content lies in a file that is not evidence: not understood
HARD_LINKED: LayerEntries = {
    "srv/package.txt": _package_json("left-pad", "1.3.0"),
    "srv/node_modules/left-pad/package.json": Hardlink("srv/package.txt"),
}


def _reference(tmp_path: Path, transport: str, layers: list[LayerEntries]) -> tuple[str, Path]:
    layout = tmp_path / "layout"
    write_image(layout, ImageSpec(layers=layers), tag=TAG)
    if transport == "oci-dir":
        return f"oci-dir:{layout}:{TAG}", layout
    archive = write_docker_archive(layout, TAG, tmp_path / "image.tar", repo_tag=f"t/i:{TAG}")
    return f"docker-archive:{archive}", layout


def _catalog(reference: str, data: Path) -> CatalogOutcome:
    settings = Settings(data_dir=data, syft_layer_evidence=True)
    with sbom_orchestrator(settings, SbomFormat.CYCLONEDX_JSON) as orchestrator:
        return orchestrator.catalog(parse_reference(reference), engine="syft")


def _whole(layout: Path, tmp_path: Path) -> Catalog:
    cache = tmp_path / "whole"
    settings = Settings(data_dir=cache.parent, cache_dir=cache, syft_layer_evidence=False)
    return SyftCataloger(settings).catalog(pinned(layout, cache, TAG))


def _manifest_digest(layout: Path) -> str:
    [entry] = json.loads((layout / "index.json").read_text())["manifests"]
    digest: str = entry["digest"]
    return digest


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The Go memory limit of each Syft run (None: none set)."""
    seen: list[str | None] = []

    def recorded(reads: int | None = None) -> dict[str, str]:
        environment = syft_environment(reads)
        seen.append(environment.get("GOMEMLIMIT"))
        return environment

    monkeypatch.setattr(syft, "syft_environment", recorded)
    return seen


@pytest.fixture(params=["here", "child", "ahead", "no-process"])
def children(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[str]]:
    """The layers read by a child process: none, or (any size worth a child) the largest
    of each image whose layers are all uncompressed and in place — that read given ahead,
    once the image is pinned, to a child started before (as the CLI starts one for an
    archive); or none, as no process can be started (read here instead)."""
    started: list[str] = []
    given: list[str] = []
    if request.param == "no-process":
        monkeypatch.setattr(standby, "MIN_SIZE", 0)

        def fails() -> None:
            raise OSError("no interpreter to start")

        monkeypatch.setattr(standby, "spawn", fails)
    if request.param in ("child", "ahead"):
        monkeypatch.setattr(standby, "MIN_SIZE", 0)

        class Recorded(child_read.ChildRead):
            def __init__(self, blobs: BlobCache, where: BlobRange, digest: str) -> None:
                started.append(digest)
                super().__init__(blobs, where, digest)

        monkeypatch.setattr(analyzer, "ChildRead", Recorded)
    if request.param == "ahead":
        give = standby.read_ahead

        def recorded(digest: str, job: bytes) -> None:
            given.append(digest)
            give(digest, job)

        monkeypatch.setattr(standby, "read_ahead", recorded)
        standby._standby.start()
    yield started
    if request.param == "ahead":
        assert given == started  # the read given ahead is the one the analyzer took
        assert not standby._standby._ahead  # taken, none left running
        standby._standby.dismiss()


@pytest.mark.parametrize("transport", ["oci-dir", "docker-archive"])
def test_layers_on_disk_are_read_in_place_for_the_same_catalog(
    tmp_path: Path, transport: str, limits: list[str | None], children: list[str]
) -> None:
    reference, layout = _reference(tmp_path, transport, [BASE, APP])
    outcome = _catalog(reference, tmp_path / "data")
    assert "91MiB" in limits  # Syft on the evidence image: 90 MiB plus its ~0.1 MB
    whole = _whole(layout, tmp_path)
    assert outcome.catalog.packages == whole.packages
    assert {p.name for p in outcome.catalog.packages} >= {"six", "qs"}
    blobs = BlobCache(Settings(data_dir=tmp_path / "data").blob_cache_dir)
    layers = outcome.image.layers
    assert len(layers) == 2 and not any(blobs.has(digest) for digest in layers)
    cached = LayerCache(blobs.root)
    assert all(cached.get(digest) is not None for digest in layers)  # analysed, verified
    assert children in ([], [layers[1]])  # the largest layer, when read by a child


def test_an_archive_layer_that_does_not_match_its_digest_fails_and_leaves_nothing(
    tmp_path: Path, children: list[str]
) -> None:
    reference, _ = _reference(tmp_path, "docker-archive", [BASE, APP])
    archive = Path(reference.removeprefix("docker-archive:"))
    data = bytearray(archive.read_bytes())
    at = data.index(b"application data")  # inside the second layer: same size, other bytes
    data[at : at + 11] = b"APPLICATION"
    archive.write_bytes(bytes(data))
    with pytest.raises(DigestMismatchError, match="hashes to"):
        _catalog(reference, tmp_path / "data")
    root = Settings(data_dir=tmp_path / "data").blob_cache_dir
    manifest = read_blob_json(tmp_path / "layout", _manifest_digest(tmp_path / "layout"))
    config = read_blob_json(tmp_path / "layout", manifest["config"]["digest"])
    tampered = config["rootfs"]["diff_ids"][1]
    assert LayerCache(root).get(tampered) is None
    assert not BlobCache(root).has(tampered)
    assert children in ([], [tampered])  # the child's error, raised here


def test_a_layer_whose_evidence_cannot_be_kept_is_stored_for_syft_after_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, limits: list[str | None]
) -> None:
    reference, layout = _reference(tmp_path, "docker-archive", [BASE, HARD_LINKED])
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        outcome = _catalog(reference, tmp_path / "data")
    assert "Syft reads the whole image" in caplog.text
    # Syft's version asked (no limit), its run on the whole image (no limit from its size)
    assert limits and all(limit is None for limit in limits)
    assert outcome.catalog.packages == _whole(layout, tmp_path).packages
    assert "left-pad" in {p.name for p in outcome.catalog.packages}
    blobs = BlobCache(Settings(data_dir=tmp_path / "data").blob_cache_dir)
    assert all(blobs.has(digest) for digest in outcome.image.layers)
