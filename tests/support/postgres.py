"""A real PostgreSQL (127.0.0.1:5432, database ``test``, trust auth) for store tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import Engine

from service.store.database import make_engine

DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _admin(statement: str) -> None:
    """Run one statement on the ``test`` database; skips the test when PostgreSQL is down."""
    try:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(statement)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL not reachable: {error}")


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        _admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@contextmanager
def schema_engine(prefix: str) -> Iterator[Engine]:
    """An engine, migrated to head, on a schema of its own that is dropped afterwards;
    skips the test when PostgreSQL is not reachable."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE SCHEMA "{schema}"')
    engine = make_engine(
        DSN.replace("postgresql://", "postgresql+psycopg://"),
        connect_args={"options": f"-csearch_path={schema}"},
    )
    try:
        yield engine
    finally:
        engine.dispose()
        _admin(f'DROP SCHEMA "{schema}" CASCADE')


# Store tests run on both databases: SQLite always, PostgreSQL as an integration test.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)]


@contextmanager
def store_engine(backend: str, tmp_path: Path, prefix: str) -> Iterator[Engine]:
    """An engine on ``backend`` (one of :data:`BACKENDS`): a SQLite file in ``tmp_path``,
    or a PostgreSQL schema of its own (see :func:`schema_engine`)."""
    if backend == "sqlite":
        yield make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        return
    with schema_engine(prefix) as engine:
        yield engine
