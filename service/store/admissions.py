"""The admission log: each image of each admission review Tollgate answered, with the
workload that named it (namespace, kind, name), the answer and when.

One row per (review, image), indexed by digest, so "where did admission see the images
holding CVE-X?" is one join on ``image_vuln``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, delete, insert
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from service.errors import StoreUnavailableError
from service.store.database import guarded_session, table_of
from service.store.images import ImageVulnRow
from service.utc import as_utc


class AdmissionEventRow(SQLModel, table=True):
    __tablename__ = "admission_event"
    __table_args__ = (
        Index("ix_admission_event_digest", "digest"),
        Index("ix_admission_event_created_at", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime
    uid: str  # the AdmissionReview's
    operation: str
    namespace: str
    kind: str
    name: str
    image: str  # as the workload names it
    digest: str | None = None  # the image decided (None when it never resolved)
    state: str  # pass | warn | block | unknown | undecided
    allowed: bool  # the review's answer (all its images together)
    reason: str | None = None


@dataclass(frozen=True)
class AdmissionEvent:
    created_at: datetime
    uid: str
    operation: str
    namespace: str
    kind: str
    name: str
    image: str
    digest: str | None
    state: str
    allowed: bool
    reason: str | None = None


def _event(row: AdmissionEventRow) -> AdmissionEvent:
    fields = row.model_dump(exclude={"id"})
    return AdmissionEvent(**{**fields, "created_at": as_utc(row.created_at)})


class AdmissionLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, events: Sequence[AdmissionEvent]) -> None:
        if not events:
            return
        with self._session() as session:
            session.execute(insert(table_of(AdmissionEventRow)), [vars(e) for e in events])

    def prune(self, before: datetime) -> int:
        """Delete the events older than ``before``; returns how many."""
        with self._session() as session:
            deleted = session.exec(
                delete(AdmissionEventRow).where(col(AdmissionEventRow.created_at) < before)
            ).rowcount
        return int(deleted or 0)

    def recent(self, limit: int) -> list[AdmissionEvent]:
        """The newest events first."""
        return self._events(select(AdmissionEventRow), limit)

    def of_vulnerability(self, vuln_id: str, limit: int) -> list[AdmissionEvent]:
        """The newest events first whose image holds ``vuln_id`` (as stored now)."""
        holding = select(col(ImageVulnRow.digest)).where(col(ImageVulnRow.vuln_id) == vuln_id)
        query = select(AdmissionEventRow).where(col(AdmissionEventRow.digest).in_(holding))
        return self._events(query, limit)

    def _events(self, query: SelectOfScalar[AdmissionEventRow], limit: int) -> list[AdmissionEvent]:
        newest = query.order_by(
            col(AdmissionEventRow.created_at).desc(), col(AdmissionEventRow.id).desc()
        ).limit(limit)
        with self._session() as session:
            return [_event(row) for row in session.exec(newest)]

    def _session(self) -> AbstractContextManager[Session]:
        return guarded_session(
            self.engine,
            lambda _: StoreUnavailableError(
                "could not read or write the admission log: the database is not reachable",
                hint="check TOLLGATE_DATABASE_URL and retry",
            ),
        )
