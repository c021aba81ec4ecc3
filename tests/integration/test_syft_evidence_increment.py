"""A layer that only adds packages to an analysed base: that layer is read alone (without
Syft for plain package.json, dist-info and gemspec files, by Syft otherwise), and the
catalog is exactly what Syft reports for the whole image. Layers that do more (add
a file to a package below, or a package found below too) are catalogued whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.catalog.model import Catalog
from service.catalog.syft import SyftCataloger
from service.image.cache import BlobCache
from service.layers.analyzer import LayerAnalyzer
from service.layers.cache import LayerCache
from service.layers.model import EvidenceListing
from service.layers.reader import WHITEOUT
from service.layers.tarstream import TarStream
from service.settings import Settings
from tests.integration.test_syft_evidence_parity import (
    GEMSPEC,
    _dist_info,
    _jar,
    _package_json,
    pinned,
)
from tests.support.layers import Hardlink, LayerEntries, Symlink, Whiteout
from tests.support.oci import ImageSpec, write_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASE: list[LayerEntries] = [
    {
        "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
        "etc/os-release": Symlink("../usr/lib/os-release"),
        **_dist_info("requests", "2.25.0"),
        "app/node_modules/qs/package.json": _package_json("qs", "6.2.0"),
    },
    {"opt/app/demo.jar": _jar()},
]
ADDS_PACKAGES: LayerEntries = {
    "app/node_modules/left-pad/package.json": _package_json("left-pad", "1.3.0"),
    "app/node_modules/left-pad/index.js": b"module.exports = () => {};\n",
    **_dist_info("six", "1.16.0"),
    "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec": GEMSPEC,
}
CHANGES_A_PACKAGE_BELOW: LayerEntries = {
    "app/node_modules/left-pad/package.json": _package_json("left-pad", "1.3.0"),
    "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/LICENSE": b"MIT\n",
}
ADDS_A_PACKAGE_FOUND_BELOW: LayerEntries = {
    "srv/other/node_modules/qs/package.json": _package_json("qs", "6.2.0"),
}


def _catalog(layout: Path, tag: str, cache: Path, *, evidence: bool) -> Catalog:
    settings = Settings(data_dir=cache.parent, cache_dir=cache, syft_layer_evidence=evidence)
    return SyftCataloger(settings).catalog(pinned(layout, cache, tag))


@pytest.mark.parametrize(
    ("upper", "read_alone"),
    [
        (ADDS_PACKAGES, True),
        (CHANGES_A_PACKAGE_BELOW, False),
        (ADDS_A_PACKAGE_FOUND_BELOW, False),
    ],
    ids=["adds-packages", "changes-a-package-below", "adds-a-package-found-below"],
)
def test_a_layer_on_an_analysed_base_is_catalogued_as_syft_does_the_whole_image(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, upper: LayerEntries, read_alone: bool
) -> None:
    layout = tmp_path / "layout"
    write_image(layout, ImageSpec(layers=BASE), tag="base")
    write_image(layout, ImageSpec(layers=[*BASE, upper]), tag="derived")
    cache = tmp_path / "cache"
    _catalog(layout, "base", cache, evidence=True)
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        derived = _catalog(layout, "derived", cache, evidence=True)
    whole = _catalog(layout, "derived", tmp_path / "whole", evidence=False)
    assert derived == whole
    assert ("only add packages" in caplog.text) is read_alone
    if read_alone:
        assert {("npm", "left-pad"), ("python", "six"), ("gem", "rake")} <= {
            (p.type.value, p.name) for p in derived.packages
        }


def test_the_listing_each_evidence_layer_keeps_is_what_its_tar_holds(tmp_path: Path) -> None:
    """Files, hard links, symlinks, whiteouts and opaque markers, as the evidence tar
    read back lists them."""
    layers: list[LayerEntries] = [
        *BASE,
        {
            "usr/lib/python3/dist-packages/requests-2.25.0.dist-info": Whiteout(),
            "app/node_modules/.wh..wh..opq": b"",
            "app/node_modules/qs/package.json": _package_json("qs", "6.2.1"),
            "app/node_modules/qt/package.json": Hardlink("app/node_modules/qs/package.json"),
            "usr/lib/os-release.d": Symlink("os-release"),
        },
    ]
    layout = tmp_path / "layout"
    write_image(layout, ImageSpec(layers=layers), tag="image")
    cache = tmp_path / "cache"
    _catalog(layout, "image", cache, evidence=True)
    analyzer = LayerAnalyzer(BlobCache(cache), LayerCache(cache))
    image = analyzer.evidence_image(pinned(layout, cache, "image"))
    assert image is not None
    assert image.listings.keys() == set(image.image.layers)
    read_back = [_listing_of(BlobCache(cache).path(d)) for d in image.image.layers]
    assert [image.listings[d] for d in image.image.layers] == read_back
    first, _jar_layer, top = read_back
    assert "etc/os-release" in first.symlinks
    assert "app/node_modules/qs/package.json" in first.files
    assert not first.deletes and top.deletes
    assert "app/node_modules/qt/package.json" in top.files
    assert "usr/lib/os-release.d" in top.symlinks


def _listing_of(blob: Path) -> EvidenceListing:
    """What the evidence tar ``blob`` holds, read back."""
    files: set[str] = set()
    symlinks: set[str] = set()
    deletes = False
    with blob.open("rb") as raw:
        for entry in TarStream(raw):
            name = entry.name.strip("/")
            if name.rpartition("/")[2].startswith(WHITEOUT):
                deletes = True
            elif entry.issym():
                symlinks.add(name)
            elif not entry.isdir():
                files.add(name)
    return EvidenceListing(files=frozenset(files), symlinks=frozenset(symlinks), deletes=deletes)
