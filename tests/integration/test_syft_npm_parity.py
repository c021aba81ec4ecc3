"""A layer that adds only ``package.json`` files to an analysed base is catalogued
without Syft (:mod:`service.catalog.syft_npm`), and the catalog is exactly what Syft
reports for the whole image: on every shape of package.json the module reads (each
license it maps, CPEs from Syft's dictionary and from its generation rules) and on the
``package.json`` files of real npm packages. Files the module leaves to Syft make the
layer go to Syft, with the same result."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from service.catalog import syft_native, syft_npm
from service.catalog.model import Catalog
from service.catalog.syft import SyftCataloger
from service.settings import Settings
from tests.integration.test_syft_evidence_increment import BASE
from tests.integration.test_syft_evidence_parity import pinned
from tests.support.images import REPO_ROOT
from tests.support.language_packages import Pin, download_npm
from tests.support.layers import Hardlink, LayerEntries
from tests.support.oci import ImageSpec, write_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Real packages of many ages and shapes: author objects and strings, repository objects
# and strings, GitHub/GitLab/other homepages, license objects and arrays, nested
# package.json files without a name, a dictionary hit (lodash), an apache-* name.
REAL = (
    Pin("express", "4.18.2"), Pin("react", "18.2.0"), Pin("chalk", "4.1.2"),
    Pin("debug", "2.6.9"), Pin("ms", "2.1.3"), Pin("semver", "7.5.4"),
    Pin("uuid", "9.0.1"), Pin("tslib", "2.6.2"), Pin("moment", "2.29.4"),
    Pin("underscore", "1.13.6"), Pin("async", "0.2.10"), Pin("request", "2.88.2"),
    Pin("bluebird", "3.7.2"), Pin("glob", "7.2.3"), Pin("minimatch", "3.1.2"),
    Pin("mkdirp", "0.5.6"), Pin("q", "1.5.1"), Pin("jquery", "3.7.1"), Pin("ws", "8.14.2"),
    Pin("lodash", "4.17.21"), Pin("optimist", "0.6.1"), Pin("coffee-script", "1.12.7"),
    Pin("apache-crypt", "1.2.6"), Pin("source-map", "0.6.1"), Pin("inherits", "2.0.4"),
    Pin("@babel/code-frame", "7.22.13"), Pin("yargs", "17.7.2"), Pin("commander", "2.20.3"),
)  # fmt: skip
NPM_CACHE = REPO_ROOT / ".cache" / "npm-parity"


def _manifest(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def _shapes() -> dict[str, bytes]:
    """One package.json per shape the module reads natively."""
    entries: dict[str, bytes] = {}

    def add(name: str, **fields: object) -> None:
        entries[f"app/node_modules/{name}/package.json"] = _manifest(name=name, **fields)

    for number, identifier in enumerate(syft_native.LICENSES):
        add(f"plain-{number}", version="1.0.0", license=identifier)
        add(f"lower-{number}", version="1.0.1", license=identifier.lower())
        add(f"nodash-{number}", version="1.0.2", license={"type": identifier.replace("-", "")})
    add("either", version="2.0.0-rc.1", license="(MIT OR Apache-2.0)")
    add("both", version="2.0.0", license="MIT AND (BSD-3-Clause OR ISC)")
    add("listed", version="0.1.0", licenses=[{"type": "MIT"}, {"type": "bsd-2-clause"}])
    add("lodash", version="4.17.11", license="MIT")  # in Syft's CPE dictionary
    add("apache-arrow-like", version="3.0.0", repository="https://github.com/x/y")
    add("dots.and_under-scores", version="1.2.3", author={"name": "A", "email": "a@b.c"})
    add("a--b", version="1", author="Someone <s@example.com> (https://example.com)")
    add(
        "from-github",
        version="5.0.0",
        repository={"type": "git", "url": "https://github.com/Some-Org/from-github.git"},
        homepage="https://gitlab.com/other_group/x#readme",
        private=True,
        latest=["5.0.0"],
        dependencies={"ms": "^2.0.0"},
        description="a package",
        keywords=["unread", 1, None],
    )
    add("git-plus", version="0.0.1", repository="git+https://github.com/o/git-plus.git")
    add("gnu-homed", version="1.0.0", homepage="https://www.gnu.org/software/gnu-homed/")
    add("@scope/with-dash_under", version="1.0.0+build.7", repository="https://github.com/s/x")
    add("@types/node", version="20.1.0", license="MIT")
    entries["app/node_modules/either/esm/package.json"] = _manifest(type="module")
    return entries


def _real() -> tuple[LayerEntries, LayerEntries]:
    """The package.json files of the real packages: those read natively, and the rest."""
    plain: dict[str, bytes] = {}
    other: dict[str, bytes] = {}
    for pin, tarball in zip(REAL, download_npm(REAL, NPM_CACHE), strict=True):
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                inner = member.name.partition("/")[2]
                if not member.isfile() or not inner.endswith("package.json"):
                    continue
                if inner != "package.json" and not inner.endswith("/package.json"):
                    continue
                extracted = archive.extractfile(member)
                assert extracted is not None
                content = extracted.read()
                path = f"srv/app/node_modules/{pin.name}/{inner}"
                manifest = syft_npm.Manifest(path, "layer", content)
                (plain if syft_npm.packages([manifest]) is not None else other)[path] = content
    return plain, other


def _catalog(layout: Path, tag: str, cache: Path, *, evidence: bool) -> Catalog:
    settings = Settings(data_dir=cache.parent, cache_dir=cache, syft_layer_evidence=evidence)
    return SyftCataloger(settings).catalog(pinned(layout, cache, tag))


NATIVE, SYFT = "read natively as Syft does", "Syft read those"


def _as_syft_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, upper: LayerEntries, how: str
) -> Catalog:
    """The catalog of ``upper`` on an analysed base, checked equal to Syft's of the whole
    image and made the way ``how`` says."""
    layout = tmp_path / "layout"
    write_image(layout, ImageSpec(layers=BASE), tag="base")
    write_image(layout, ImageSpec(layers=[*BASE, upper]), tag="derived")
    cache = tmp_path / "cache"
    _catalog(layout, "base", cache, evidence=True)
    caplog.clear()
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        derived = _catalog(layout, "derived", cache, evidence=True)
    assert how in caplog.text
    assert derived == _catalog(layout, "derived", tmp_path / "whole", evidence=False)
    return derived


def _split_as_syft_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, plain: LayerEntries, other: LayerEntries
) -> None:
    """``plain`` read natively and ``other`` (if any) by Syft, each as Syft reports it."""
    _as_syft_reports(tmp_path / "native", caplog, plain, NATIVE)
    if other:
        _as_syft_reports(tmp_path / "left", caplog, other, SYFT)


def test_every_shape_read_natively_is_what_syft_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shapes = _shapes()
    derived = _as_syft_reports(tmp_path, caplog, shapes, NATIVE)
    named = {json.loads(content).get("name") for content in shapes.values()} - {None}
    assert named <= {p.name for p in derived.packages if p.type.value == "npm"}


def test_real_npm_packages_are_catalogued_as_syft_does_whichever_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain, other = _real()
    assert len(plain) >= 2 * len(other)  # most real package.json files are read natively
    _split_as_syft_reports(tmp_path, caplog, plain, other)


@pytest.mark.parametrize(
    "upper",
    [
        {
            "app/node_modules/plain/package.json": _manifest(name="plain", version="1.0.0"),
            "app/node_modules/spaced/package.json": _manifest(
                name="spaced", version="1.0.0", license="Apache 2.0"
            ),
        },
        {
            "app/node_modules/plain/package.json": _manifest(name="plain", version="1.0.0"),
            "srv/node_modules/plain/package.json": Hardlink("app/node_modules/plain/package.json"),
        },
    ],
    ids=["unmapped-license", "hard-link"],
)
def test_a_file_left_to_syft_sends_the_layer_to_syft(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, upper: LayerEntries
) -> None:
    _as_syft_reports(tmp_path, caplog, upper, SYFT)
