"""The orchestrator: one code path for CLI, embedded service and workers."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from service.catalog.cache import CatalogCache
from service.catalog.interface import Cataloger, LayerArrivals
from service.catalog.model import Catalog, Location
from service.errors import ConfigurationError, DigestMismatchError, EngineError
from service.image.model import ImageConfig, ImageReference, PinnedImage, Platform
from service.image.reference import parse_reference
from service.sbom import SbomFormat, render
from service.sbom.writer import SbomWriter
from service.scanning import Orchestrator
from service.vulndb.model import Finding
from tests.unit.jobs.fakes import FakeCataloger, FakeSource, fake_match


class CountingCataloger(FakeCataloger):
    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        self.runs += 1
        return super().catalog(image, arrivals)


class RecordingSink:
    def __init__(self) -> None:
        self.saved: list[str] = []
        self.recorded: dict[str, list[Finding]] = {}

    def save(self, catalog: Catalog) -> None:
        self.saved.append(catalog.image.digest)

    def record(self, digest: str, findings: list[Finding]) -> None:
        self.recorded[digest] = findings


@pytest.fixture
def cataloger() -> CountingCataloger:
    return CountingCataloger()


class CountingWriter(SbomWriter):
    """Records the packages of each catalog rendered whole."""

    def __init__(self) -> None:
        self.rendered: list[tuple[str, ...]] = []

    def render(self, catalog: Catalog, fmt: SbomFormat, *, created: datetime | None) -> str:
        self.rendered.append(tuple(p.name for p in catalog.packages))
        return super().render(catalog, fmt, created=created)


def _orchestrator(tmp_path: Path, cataloger: CountingCataloger, **extra: object) -> Orchestrator:
    return Orchestrator(
        source=FakeSource(tmp_path / "layout"),
        catalogers={"fake": cataloger},
        default_engine="fake",
        cache=CatalogCache(tmp_path / "cache"),
        **extra,  # type: ignore[arg-type]
    )


def test_an_unchanged_digest_is_catalogued_once(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    ref = parse_reference("127.0.0.1:5000/team/openssl-zlib:1")
    first = orchestrator.catalog(ref)
    second = orchestrator.catalog(ref)
    assert cataloger.runs == 1
    assert not first.cached and second.cached
    assert second.catalog == first.catalog


def test_cached_catalog_names_the_reference_asked_for(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    first = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/zlib@sha256:" + "a" * 64))
    again = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/zlib:1@sha256:" + "a" * 64))
    assert again.cached and cataloger.runs == 1
    assert again.catalog.image.reference != first.catalog.image.reference
    assert again.catalog.image.reference.endswith(":1@sha256:" + "a" * 64)


def test_sbom_is_rendered_once_and_identical(tmp_path: Path, cataloger: CountingCataloger) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    outcome = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/bash:1"))
    first = orchestrator.sbom(outcome, SbomFormat.CYCLONEDX_JSON)
    documents = list((tmp_path / "cache" / "documents").rglob("*"))
    assert any(p.is_file() for p in documents)
    assert orchestrator.sbom(outcome, SbomFormat.CYCLONEDX_JSON) == first
    assert orchestrator.sbom(outcome, SbomFormat.SPDX_JSON) != first


def test_an_image_with_the_packages_of_one_rendered_before_is_not_rendered_whole(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    """Two tags of one repository with other digests: the same packages (a push of
    application code). The second document is the first re-subjected, as rendered."""
    writer = CountingWriter()
    orchestrator = _orchestrator(tmp_path, cataloger, writer=writer)
    first = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/bash-zlib:1"))
    orchestrator.sbom(first, SbomFormat.CYCLONEDX_JSON)
    second = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/bash-zlib:2"))
    assert second.catalog.image.digest != first.catalog.image.digest
    writer.rendered.clear()
    document = orchestrator.sbom(second, SbomFormat.CYCLONEDX_JSON)
    assert writer.rendered == []
    assert document == render(second.catalog, SbomFormat.CYCLONEDX_JSON)
    orchestrator.sbom(second, SbomFormat.SPDX_JSON)  # SPDX documents are rendered whole
    assert writer.rendered == [("bash", "zlib")]


class LayeredCataloger(CountingCataloger):
    """Each package of the fake image in a layer of its own, in the repository's order."""

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        found = super().catalog(image, arrivals)
        packages = tuple(
            p.model_copy(update={"locations": (Location(path=f"/{p.name}", layer=_layer(p.name)),)})
            for p in found.packages
        )
        return found.model_copy(update={"packages": packages})


def _layer(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


class LayeredSource(FakeSource):
    def fetch(self, ref: ImageReference, platform: Platform | None = None) -> PinnedImage:
        image = super().fetch(ref, platform)
        names = (ref.repository or "").rsplit("/", 1)[-1].split("-")
        layers = tuple(_layer(name) for name in names)
        return dataclasses.replace(image, config=ImageConfig(diff_ids=layers))


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_an_image_adding_packages_to_a_rendered_base_renders_only_those(
    tmp_path: Path, fmt: SbomFormat
) -> None:
    """A push of a layer of packages on a base whose SBOM was rendered: the base's document
    gets the new packages, and is what rendering the new image whole gives."""
    writer = CountingWriter()
    orchestrator = Orchestrator(
        source=LayeredSource(tmp_path / "layout"),
        catalogers={"fake": LayeredCataloger()},
        default_engine="fake",
        cache=CatalogCache(tmp_path / "cache"),
        writer=writer,
    )
    base = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/zlib-bash:1"))
    orchestrator.sbom(base, fmt)
    derived = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/zlib-bash-curl-apt:1"))
    writer.rendered.clear()
    document = orchestrator.sbom(derived, fmt)
    assert writer.rendered == []
    created = derived.image.config.created
    assert document == render(derived.catalog, fmt, created=created)
    other = orchestrator.catalog(parse_reference("127.0.0.1:5000/team/zlib-curl:1"))
    orchestrator.sbom(other, fmt)  # no base rendered: rendered whole
    assert writer.rendered == [("curl", "zlib")]


def test_an_sbom_rendered_before_is_answered_without_its_catalog(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    ref = parse_reference("127.0.0.1:5000/team/bash:1")
    first = orchestrator.sbom_of(ref, SbomFormat.SPDX_JSON)
    assert first == orchestrator.sbom(orchestrator.catalog(ref), SbomFormat.SPDX_JSON)
    for stored in (tmp_path / "cache" / "catalogs").rglob("*"):
        if stored.is_file():
            stored.unlink()  # the answer must come from the rendered document alone
    assert orchestrator.sbom_of(ref, SbomFormat.SPDX_JSON) == first
    assert cataloger.runs == 1


def test_an_sbom_names_the_reference_asked_for(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    digest = "sha256:" + "a" * 64
    first = orchestrator.sbom_of(
        parse_reference(f"127.0.0.1:5000/zlib@{digest}"), SbomFormat.SPDX_JSON
    )
    other = orchestrator.sbom_of(
        parse_reference(f"127.0.0.1:5000/zlib:1@{digest}"), SbomFormat.SPDX_JSON
    )
    assert cataloger.runs == 1  # same digest: one catalog, two names
    assert "zlib:1@" in other and "zlib:1@" not in first


def test_an_sbom_waits_for_an_engine_version_it_does_not_know(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    """Nothing is answered from the cache under an engine version not yet known."""
    ref = parse_reference("127.0.0.1:5000/team/bash:1")
    _orchestrator(tmp_path, cataloger).sbom_of(ref, SbomFormat.CYCLONEDX_JSON)
    fresh = CountingCataloger()  # another process; this engine's version is remembered nowhere
    _orchestrator(tmp_path, fresh).sbom_of(ref, SbomFormat.CYCLONEDX_JSON)
    assert fresh.runs == 1


class VersionTellingCataloger(CountingCataloger):
    """Records the nice value of the thread that asks it its version."""

    def __init__(self) -> None:
        super().__init__()
        self.asked_at: list[int] = []

    def version(self) -> str:
        self.asked_at.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return super().version()


def test_side_work_yields_the_cpu_to_the_engine(tmp_path: Path) -> None:
    """Asking a new engine its version runs in a thread whose nice value is above the
    engine-starting thread's."""
    cataloger = VersionTellingCataloger()
    _orchestrator(tmp_path, cataloger).catalog(parse_reference("127.0.0.1:5000/team/bash:1"))
    engine_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert cataloger.asked_at and cataloger.asked_at[0] > engine_niceness


def test_scan_stores_the_catalog_and_its_findings(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    sink = RecordingSink()
    orchestrator = _orchestrator(tmp_path, cataloger, matcher=fake_match, sink=sink)
    outcome = orchestrator.scan(parse_reference("127.0.0.1:5000/team/openssl-zlib:1"))
    digest = outcome.catalog.image.digest
    assert sink.saved == [digest]
    assert sink.recorded[digest] == outcome.findings
    assert {f.id for f in outcome.findings} == {"CVE-2024-0001", "CVE-2024-0002", "CVE-2024-0003"}


def test_unknown_engine_is_a_configuration_error(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    orchestrator = _orchestrator(tmp_path, cataloger)
    with pytest.raises(ConfigurationError, match="choose one of fake"):
        orchestrator.catalog(parse_reference("alpine:3.19"), engine="grype")


LAYER = "sha256:" + "1" * 64


class StreamingCataloger(CountingCataloger):
    """Reads the layer as it arrives, the way Syft pulls from the loopback registry."""

    reads_layers_as_they_arrive = True

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        assert arrivals is not None
        if not arrivals.wait_for(LAYER):
            raise EngineError("fake engine: layer not found")
        return super().catalog(image, arrivals)


def _arriving(tmp_path: Path, cataloger: Cataloger, fetch: Callable[[str], None]) -> Orchestrator:
    return Orchestrator(
        source=FakeSource(tmp_path / "layout", arriving=(LAYER,), fetch_layer=fetch),
        catalogers={"fake": cataloger},
        default_engine="fake",
        cache=CatalogCache(tmp_path / "cache"),
    )


def test_an_engine_reading_layers_as_they_arrive_starts_before_they_are_in(
    tmp_path: Path,
) -> None:
    started = threading.Event()

    def slow_layer(digest: str) -> None:
        assert started.wait(timeout=5)  # only completes once the engine is running

    cataloger = StreamingCataloger()
    original = cataloger.catalog

    def catalog(image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        started.set()
        return original(image, arrivals)

    cataloger.catalog = catalog  # type: ignore[method-assign]
    outcome = _arriving(tmp_path, cataloger, slow_layer).catalog(parse_reference("a.io/b/c:1"))
    assert cataloger.runs == 1 and not outcome.cached


def test_a_failed_layer_is_the_error_not_the_engine_failure_it_caused(tmp_path: Path) -> None:
    def tampered(digest: str) -> None:
        raise DigestMismatchError(f"blob {digest} does not match its digest")

    orchestrator = _arriving(tmp_path, StreamingCataloger(), tampered)
    with pytest.raises(DigestMismatchError, match="does not match"):
        orchestrator.catalog(parse_reference("a.io/b/c:1"))
    assert not list((tmp_path / "cache").rglob("catalogs/*/*"))  # nothing cached


def test_other_engines_start_once_every_layer_is_in(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    arrived: list[str] = []
    original = cataloger.catalog

    def catalog(image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        assert arrivals is None and arrived == [LAYER]
        return original(image, arrivals)

    cataloger.catalog = catalog  # type: ignore[method-assign]
    _arriving(tmp_path, cataloger, arrived.append).catalog(parse_reference("a.io/b/c:1"))
    assert cataloger.runs == 1
