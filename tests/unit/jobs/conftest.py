from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.gate import PolicyGate
from service.jobs.decision import ImageDecider
from service.jobs.scan import MaintenanceJobs, ScanJob
from service.notify.webhooks import Notifier
from service.registry.interface import Registry
from service.signing.checker import SignatureChecker
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from service.vulndb.store import VulnStore
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


def make_decider(engine: Engine, checker: SignatureChecker | None = None) -> ImageDecider:
    """The decider of the default bundle; without ``checker``, one with nothing to verify."""
    return ImageDecider(
        PolicyGate(PolicyStore(engine)), "default", checker or SignatureChecker(_no_registry, {})
    )


def make_job(
    engine: Engine,
    source: FakeSource,
    cache: Path,
    notifier: Notifier,
    checker: SignatureChecker | None = None,
) -> ScanJob:
    catalogs = CatalogStore(engine)
    return ScanJob(
        scans=ScanStore(engine),
        images=ImageStore(engine),
        vulns=VulnStore(engine),
        orchestrator=orchestrator_factory(source, cache, catalogs),
        notifier=notifier,
        lease_seconds=30.0,
        decider=make_decider(engine, checker),
    )


@pytest.fixture
def job(engine: Engine, source: FakeSource, tmp_path: Path, notifier: RecordingNotifier) -> ScanJob:
    return make_job(engine, source, tmp_path / "cache", notifier)


@pytest.fixture
def maintenance(
    engine: Engine, notifier: RecordingNotifier, dispatcher: RecordingDispatcher
) -> MaintenanceJobs:
    return MaintenanceJobs(
        scans=ScanStore(engine),
        images=ImageStore(engine),
        catalogs=CatalogStore(engine),
        vulns=VulnStore(engine),
        notifier=notifier,
        dispatcher=dispatcher,
        stranded_after=timedelta(seconds=60),
        decider=make_decider(engine),
    )
