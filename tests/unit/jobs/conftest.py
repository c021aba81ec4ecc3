from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from policies.decision import Decision
from service.admission.stored import StoredEvaluation
from service.gate import PolicyGate
from service.image.model import ImageReference
from service.jobs.scan import MaintenanceJobs, ScanJob
from service.notify.webhooks import Notifier
from service.pipeline import Pipeline
from service.registry.interface import Registry
from service.signing.checker import SignatureChecker
from service.signing.service_signer import ServiceSigner
from service.store.admissions import AdmissionLog
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.fleet_history import FleetHistory
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from service.store.vex import VexStore
from tests.unit.jobs.fakes import FakeSource, RecordingDispatcher, orchestrator_factory


class RecordingNotifier:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, object]]] = []

    def send(self, event: str, data: dict[str, object]) -> None:
        self.sent.append((event, data))


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")


@pytest.fixture
def source(tmp_path: Path) -> FakeSource:
    return FakeSource(layout=tmp_path / "layout")


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    return RecordingDispatcher()


def _no_registry(host: str) -> Registry:
    raise AssertionError(f"no registry access expected ({host})")


def make_pipeline(
    engine: Engine,
    source: FakeSource,
    cache: Path,
    notifier: Notifier,
    checker: SignatureChecker | None = None,
    signer: ServiceSigner | None = None,
) -> Pipeline:
    """The pipeline of the default bundle over fake images; without ``checker``, one with
    nothing to verify."""
    catalogs = CatalogStore(engine)
    return Pipeline(
        orchestrators=orchestrator_factory(source, cache, catalogs),
        gate=PolicyGate(PolicyStore(engine)),
        bundle="default",
        checker=checker or SignatureChecker(_no_registry, {}),
        signer=signer,
        images=ImageStore(engine),
        catalogs=catalogs,
        vulns=VulnStore(engine),
        vex=VexStore(engine),
        notifier=notifier,
    )


def stored_evaluation(engine: Engine, bundle: str) -> StoredEvaluation:
    """Admission's evaluation of stored scans with ``bundle``, through the pipeline."""
    unused = Path("/nonexistent")  # nothing is pulled: only stored scans are evaluated
    pipeline = make_pipeline(engine, FakeSource(layout=unused), unused, RecordingNotifier())

    def evaluate(digest: str, ref: ImageReference) -> Decision | None:
        verdict = pipeline.evaluate(digest, ref, bundle=bundle, trigger="admission")
        return None if verdict is None else verdict.decision

    return evaluate


def make_job(
    engine: Engine,
    source: FakeSource,
    cache: Path,
    notifier: Notifier,
    checker: SignatureChecker | None = None,
    signer: ServiceSigner | None = None,
) -> ScanJob:
    pipeline = make_pipeline(engine, source, cache, notifier, checker, signer)
    return ScanJob(ScanStore(engine), pipeline, 30.0)


@pytest.fixture
def job(engine: Engine, source: FakeSource, tmp_path: Path, notifier: RecordingNotifier) -> ScanJob:
    return make_job(engine, source, tmp_path / "cache", notifier)


@pytest.fixture
def maintenance(engine: Engine, dispatcher: RecordingDispatcher) -> MaintenanceJobs:
    return MaintenanceJobs(
        ScanStore(engine),
        dispatcher,
        timedelta(seconds=60),
        ImageStore(engine),
        FleetHistory(engine),
        AdmissionLog(engine),
        timedelta(days=90),
    )
