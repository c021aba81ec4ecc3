"""The Alembic migrations match the models, on SQLite and PostgreSQL, and processes that
start together migrate one database once."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from service.store.database import (
    current_revision,
    head_revision,
    import_table_modules,
    make_engine,
)
from tests.support.postgres import scratch_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_database("tollgate_migrations") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tollgate.db'}"
    return str(request.getfixturevalue("pg_url"))


def test_migrated_schema_has_no_diff_from_the_models(url: str):
    engine = make_engine(url)
    import_table_modules()
    try:
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision() is not None
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
            tables = set(inspect(connection).get_table_names())
        assert set(SQLModel.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_processes_starting_together_migrate_once(url: str):
    script = f"from service.store.database import make_engine; make_engine({url!r}).dispose()"
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()
    _assert_at_head(url)


def test_a_database_created_before_migrations_is_adopted(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    legacy = make_engine(url, migrate=False)
    import_table_modules()
    SQLModel.metadata.create_all(legacy)
    legacy.dispose()
    _assert_at_head(url)


def _assert_at_head(url: str) -> None:
    """The database at ``url``, opened as the service opens it, is at the latest revision."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert current_revision(connection) == head_revision()
    finally:
        engine.dispose()
