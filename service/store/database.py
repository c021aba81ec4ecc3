"""SQLModel engine and session factory (SQLite by default, PostgreSQL when configured).

SQLite runs in WAL mode with a busy timeout so the API, workers and CLI can
share one file; PostgreSQL is used through ``postgresql+psycopg://`` URLs.

The schema is owned by the Alembic migrations in ``service/store/migrations``:
:func:`make_engine` upgrades the database to the latest revision, under a lock
(a PostgreSQL advisory lock, or a lock file next to the SQLite database) so that
processes starting together migrate once. A database already at the newest migration
is recognised by one query, without loading Alembic or the migration scripts.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from service.directories import ensure_directory
from service.errors import ConfigurationError, TollgateError, VulnDBError
from service.settings import Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x7011_6A7E  # pg_advisory_xact_lock key: "tollgate migrate"
# The newest migration's revision (a test checks it against the scripts in MIGRATIONS).
SCHEMA_HEAD = "0010_feed_documents"

# Every module that defines tables: Alembic compares the models against the migrations.
TABLE_MODULES = (
    "service.store.catalogs",
    "service.store.images",
    "service.store.policies",
    "service.store.scans",
    "service.store.tokens",
    "service.store.vex",
    "service.store.webhook_events",
    "service.store.advisories",
    "service.store.cve_facts",
    "service.store.fleet_history",
    "service.store.admissions",
    "service.store.feed_documents",
)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str, *, migrate: bool = True, **options: Any) -> Engine:
    """An engine for ``url`` with Tollgate's connection settings, migrated to the latest
    schema unless ``migrate`` is False."""
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError or ValueError subclasses
        raise ConfigurationError(
            "TOLLGATE_DATABASE_URL is not a valid database URL",
            hint="use sqlite:///path/tollgate.db or postgresql+psycopg://user@host/db",
        ) from error
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            ensure_directory(Path(parsed.database).parent, "database")
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **options)
    if migrate:
        migrate_to_head(engine)
    return engine


def import_table_modules() -> None:
    """Register every table on ``SQLModel.metadata``."""
    for name in TABLE_MODULES:
        importlib.import_module(name)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@cache
def head_revision() -> str | None:
    """The newest migration, as Alembic reads it from the scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _at_head(connection: Connection) -> bool:
    """Whether the database records exactly :data:`SCHEMA_HEAD` (False when unversioned)."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    versions = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
    return list(versions) == [SCHEMA_HEAD]


def migrate_to_head(engine: Engine) -> None:
    """Bring the schema to the latest migration (a no-op read when it is there already)."""
    try:
        with engine.connect() as connection:
            if _at_head(connection):
                return
        with _migration_lock(engine), engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"))
            _upgrade(connection)
    except SQLAlchemyError as error:
        raise VulnDBError(
            f"could not migrate {engine.url.render_as_string(hide_password=True)}",
            hint="check TOLLGATE_DATABASE_URL and that the database is reachable",
        ) from error


def _upgrade(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    if current_revision(connection) is None and inspect(connection).get_table_names():
        # A database created before migrations existed: add what is missing, then adopt it.
        logger.info("adopting an unversioned database at revision %s", head_revision())
        import_table_modules()
        SQLModel.metadata.create_all(connection)
        command.stamp(config, "head")
        return
    command.upgrade(config, "head")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Serialise migrations of one SQLite file across processes (PostgreSQL locks itself)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


@contextmanager
def guarded_session(
    engine: Engine, failure: Callable[[SQLAlchemyError], TollgateError]
) -> Iterator[Session]:
    """:func:`session_scope`, raising ``failure(error)`` (chained) when the database fails."""
    try:
        with session_scope(engine) as session:
            yield session
    except SQLAlchemyError as error:
        raise failure(error) from error


def engine_from_settings(settings: Settings | None = None) -> Engine:
    """The engine for ``TOLLGATE_DATABASE_URL`` (default: SQLite in the data directory)."""
    return make_engine((settings or get_settings()).sqlalchemy_url)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of ``model``: inserting many rows into it skips the ORM's per-row work
    (several times faster for the hundreds of finding rows an image holds)."""
    table: Table = model.__table__  # type: ignore[attr-defined]
    return table
