"""Alembic migrations of the Tollgate database (run by ``make_engine``)."""
