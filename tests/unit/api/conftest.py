from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.auth.tokens import Scope, TokenAuthority
from service.jobs.scan import ScanJob
from service.registry.pull_auth import PullAuthorization
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from service.store.tokens import TokenStore
from tests.unit.jobs.conftest import RecordingNotifier, make_job
from tests.unit.jobs.fakes import FakeSource

with warnings.catch_warnings():
    # Starlette warns that its TestClient will move from httpx to httpx2; httpx is what we have.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

WEBHOOK_SECRET = "webhook-secret-0123456789"


@dataclass
class InlineDispatcher:
    """Runs each dispatched scan at once (or only records it when ``hold`` is set)."""

    job: ScanJob | None = None
    hold: bool = False
    up: bool = True
    dispatched: list[tuple[str, str]] = field(default_factory=list)
    pull_auth: dict[str, PullAuthorization] = field(default_factory=dict)

    def dispatch(
        self, scan_id: str, queue: str, pull_auth: PullAuthorization | None = None
    ) -> None:
        self.dispatched.append((scan_id, queue))
        if pull_auth is not None:
            self.pull_auth[scan_id] = pull_auth
        if not self.hold and self.job is not None:
            self.job.run(scan_id, pull_auth=pull_auth)

    def redecide(self, trigger: str) -> None:
        """Re-decisions run at once, as the background pool would run them."""
        if self.job is not None:
            self.job.pipeline.redecide_all(trigger)

    def reachable(self) -> bool:
        return self.up


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")


@pytest.fixture
def dispatcher(engine: Engine, tmp_path: Path) -> InlineDispatcher:
    source = FakeSource(layout=tmp_path / "layout")
    return InlineDispatcher(job=make_job(engine, source, tmp_path / "cache", RecordingNotifier()))


@pytest.fixture
def client(engine: Engine, dispatcher: InlineDispatcher, tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path, webhook_secret=Secret(WEBHOOK_SECRET))
    app = create_app(settings, engine=engine, dispatcher=dispatcher, engine_version=lambda _: "1.0")
    with TestClient(app) as test_client:
        yield test_client


def token(engine: Engine, *scopes: Scope) -> dict[str, str]:
    issued = TokenAuthority(TokenStore(engine), None).issue(frozenset(scopes), "test").secret
    return {"Authorization": f"Bearer {issued}"}


@pytest.fixture
def admin(engine: Engine) -> dict[str, str]:
    return token(engine, Scope.ADMIN)
