"""The orchestrator: one code path for CLI, embedded service and workers."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from service.catalog.cache import CatalogCache
from service.catalog.model import Catalog
from service.errors import ConfigurationError
from service.image.model import PinnedImage
from service.image.reference import parse_reference
from service.sbom import SbomFormat
from service.scanning import Orchestrator
from service.vulndb.model import Finding
from tests.unit.workers.fakes import FakeCataloger, FakeSource, fake_match


class CountingCataloger(FakeCataloger):
    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def catalog(self, image: PinnedImage) -> Catalog:
        self.runs += 1
        return super().catalog(image)


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


def test_overlap_work_runs_while_the_engine_does(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    calls: list[str] = []
    orchestrator = _orchestrator(tmp_path, cataloger, overlap=lambda: calls.append("warm"))
    ref = parse_reference("127.0.0.1:5000/team/bash:1")
    orchestrator.catalog(ref)
    orchestrator.catalog(ref)  # served from cache: no engine, no overlap
    assert calls == ["warm"]


def test_overlap_work_yields_the_cpu_to_the_engine(
    tmp_path: Path, cataloger: CountingCataloger
) -> None:
    """Side work runs in a thread whose nice value is above the engine-starting thread's."""
    seen: list[int] = []

    def record_priority() -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    _orchestrator(tmp_path, cataloger, overlap=record_priority).catalog(
        parse_reference("127.0.0.1:5000/team/bash:1")
    )
    engine_niceness = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen and seen[0] > engine_niceness


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
