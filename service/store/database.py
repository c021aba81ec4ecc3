"""SQLModel engine and session factory (SQLite by default, PostgreSQL when configured).

SQLite runs in WAL mode with a busy timeout so the API, workers and CLI can
share one file; PostgreSQL is used through ``postgresql+psycopg://`` URLs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from service.errors import ConfigurationError, VulnDBError
from service.settings import Settings, get_settings

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url`` with Tollgate's connection settings; tables are created."""
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError or ValueError subclasses
        raise ConfigurationError(
            "TOLLGATE_DATABASE_URL is not a valid database URL",
            hint="use sqlite:///path/tollgate.db or postgresql+psycopg://user@host/db",
        ) from error
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **options)
    create_tables(engine)
    return engine


def create_tables(engine: Engine) -> None:
    # Importing the table modules registers them on SQLModel.metadata.
    from service.store import catalogs, images, scans, tokens, webhook_events  # noqa: F401
    from service.vulndb import store  # noqa: F401

    try:
        SQLModel.metadata.create_all(engine)
    except SQLAlchemyError as error:
        raise VulnDBError(
            f"could not create tables in {engine.url.render_as_string(hide_password=True)}",
            hint="check TOLLGATE_DATABASE_URL and that the database is reachable",
        ) from error


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block succeeds, rolled back when it raises."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def engine_from_settings(settings: Settings | None = None) -> Engine:
    """The engine for ``TOLLGATE_DATABASE_URL`` (default: SQLite in the data directory)."""
    return make_engine((settings or get_settings()).sqlalchemy_url)
