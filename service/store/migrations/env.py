"""Alembic environment: Tollgate's SQLModel tables, on the connection ``make_engine`` passes.

Run by hand with ``alembic upgrade head`` (URL from ``TOLLGATE_DATABASE_URL``, default
SQLite in the data directory) or ``alembic revision --autogenerate -m "..."`` after a
model change.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from service.store.database import import_table_modules, make_engine

import_table_modules()
target_metadata = SQLModel.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER much
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from service.settings import get_settings

    url = context.config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url
    engine = make_engine(url, migrate=False)
    try:
        with engine.begin() as standalone:
            run(standalone)
    finally:
        engine.dispose()
