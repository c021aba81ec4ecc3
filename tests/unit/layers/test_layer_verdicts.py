"""The pipeline gives the layer rules the same analysis at scan time and from storage: an
image that adds a private key and deletes it in a later layer is blocked by the shipped
default bundle, and again when decided from what is stored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from policies.decision import Outcome
from service.acquire.fetcher import ImageFetcher
from service.catalog.cache import CatalogCache
from service.gate import PolicyGate
from service.image.cache import BlobCache
from service.image.reference import parse_reference
from service.layers.analyzer import LayerAnalyzer
from service.layers.cache import LayerCache
from service.pipeline import Pipeline
from service.registry.pull_auth import PullAuthorization
from service.report import build_report, report_table
from service.scanning import Orchestrator
from service.settings import Settings
from service.signing.checker import SignatureChecker
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.vex import VexStore
from tests.support.oci import write_image
from tests.unit.jobs.conftest import RecordingNotifier
from tests.unit.jobs.fakes import CatalogSink, FakeCataloger, fake_match
from tests.unit.layers.test_analysis import WRITE_THEN_DELETE


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")


def pipeline(engine: Engine, cache: Path) -> Pipeline:
    catalogs = CatalogStore(engine)
    blobs = BlobCache(cache)

    @contextmanager
    def orchestrators(pull_auth: PullAuthorization | None = None) -> Iterator[Orchestrator]:
        yield Orchestrator(
            source=ImageFetcher(blobs, lambda host: pytest.fail(), Settings()),
            catalogers={"fake": FakeCataloger()},
            default_engine="fake",
            cache=CatalogCache(cache),
            matcher=fake_match,
            sink=CatalogSink(catalogs),
            layers=LayerAnalyzer(blobs, LayerCache(cache)),
        )

    return Pipeline(
        orchestrators=orchestrators,
        gate=PolicyGate(PolicyStore(engine)),
        bundle="default",
        checker=SignatureChecker(lambda host: pytest.fail(), {}),
        signer=None,
        images=ImageStore(engine),
        catalogs=catalogs,
        vulns=VulnStore(engine),
        vex=VexStore(engine),
        notifier=RecordingNotifier(),
    )


def test_a_deleted_private_key_blocks_at_scan_time_and_from_storage(
    engine: Engine, tmp_path: Path
) -> None:
    layout = tmp_path / "layout"
    write_image(layout, WRITE_THEN_DELETE, tag="1")
    judge = pipeline(engine, tmp_path / "cache")

    scanned = judge.scan(parse_reference(f"oci-dir:{layout}:1"))
    digest = scanned.outcome.image.digest
    fired = {r.rule_id for r in scanned.verdict.decision.fired}
    assert scanned.verdict.decision.outcome is Outcome.BLOCK
    assert "secret-files" in fired

    stored = judge.stored_subject(digest)
    assert stored is not None and stored.layers == scanned.outcome.layers
    again = judge.evaluate(digest, record=False)
    assert again is not None
    assert again.decision.outcome is Outcome.BLOCK
    assert {r.rule_id for r in again.decision.fired} == fired
    assert judge.redecide([digest], "test") == 1
    assert ImageStore(engine).get(digest).layers == scanned.outcome.layers

    report = build_report(scanned.outcome, scanned.verdict)
    assert [layer.files_removed for layer in report.layers] == [0, 2, 2]
    assert report.efficiency is not None and report.efficiency.wasted_bytes > 1000
    table = report_table(report)
    assert "/root/.ssh/id_ed25519: private_key in layer 0 (deleted later, still shipped)" in table
    assert "RUN rm -rf /app/big.bin /root/.ssh" in table
    assert "PRIVATE KEY" not in table and "PRIVATE KEY" not in report.model_dump_json()
