"""The fleet's findings, one row a day: what the overview's 30-day trend draws.

The images table holds only the present; maintenance (Celery beat's ``tollgate.recover``
or the embedded timer) writes today's totals here, so yesterday's can still be drawn.
"""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Column, Field, SQLModel, Text, col, select

from service.errors import StoreUnavailableError
from service.store.database import guarded_session


class FleetDayRow(SQLModel, table=True):
    __tablename__ = "fleet_day"

    day: date = Field(primary_key=True)  # UTC
    images: int
    fixable: int
    findings: str = Field(sa_column=Column(Text, nullable=False))  # JSON: severity -> count


class FleetHistory:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, day: date, images: int, findings: dict[str, int], fixable: int) -> None:
        """The fleet's totals on ``day`` (the last recording of a day stands)."""
        row = FleetDayRow(day=day, images=images, fixable=fixable, findings=json.dumps(findings))
        with guarded_session(self.engine, _unavailable) as session:
            session.merge(row)

    def findings_since(self, first: date) -> dict[date, dict[str, int]]:
        """Findings by severity on each recorded day from ``first``."""
        query = select(FleetDayRow).where(col(FleetDayRow.day) >= first)
        with guarded_session(self.engine, _unavailable) as session:
            return {row.day: json.loads(row.findings) for row in session.exec(query)}


def _unavailable(_error: SQLAlchemyError) -> StoreUnavailableError:
    return StoreUnavailableError(
        "the fleet history is unavailable", hint="check the database connection"
    )
