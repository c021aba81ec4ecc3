"""Scan requests and their life cycle: queued -> running -> done | failed.

Every state change is a guarded ``UPDATE ... WHERE`` so that a scan is claimed by
one worker at a time, a worker that died is replaced once its lease runs out, and
a result is recorded once (by the attempt that holds the claim).

``dedup_key`` (unique, NULL once it no longer applies) makes submissions idempotent:
a digest being scanned, or already scanned with the same engine version and
vulnerability-database revision, gives back the existing scan.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import Index, Text, case, func, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.errors import NotFoundError, StoreUnavailableError
from service.store.database import guarded_session, session_scope
from service.utc import as_utc

logger = logging.getLogger(__name__)


class ScanStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ScanRow(SQLModel, table=True):
    __tablename__ = "scan"
    __table_args__ = (
        Index("ix_scan_status_created", "status", "created_at"),
        Index("ix_scan_finished_at_status", "finished_at", "status"),  # covers daily counts
        Index("ix_scan_digest", "digest"),
    )

    id: str = Field(primary_key=True)
    reference: str
    platform: str | None = None
    source: str
    queue: str
    status: str
    dedup_key: str | None = Field(default=None, unique=True)
    digest: str | None = None
    engine: str
    engine_version: str
    db_revision: int
    attempts: int = 0
    lease_until: datetime | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: float | None = None
    timings: str | None = Field(default=None, sa_column=Column(Text))
    findings: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text))


@dataclass(frozen=True)
class ScanRequest:
    """What to scan and with which engine/database state (the idempotency key)."""

    reference: str  # canonical reference string
    digest: str | None  # known when the caller named a digest (webhooks, Harbor)
    platform: str | None
    source: str  # api | distribution | harbor | harbor-adapter
    queue: str
    engine: str
    engine_version: str
    db_revision: int

    @property
    def dedup_key(self) -> str:
        # A digest is one image only in the repository it was pulled from: the same digest
        # named in another registry (a Harbor request, a webhook) is another scan.
        subject = (
            f"digest:{_repository(self.reference)}@{self.digest}"
            if self.digest
            else f"ref:{self.reference}"
        )
        return "|".join(
            (subject, self.platform or "", self.engine, self.engine_version, str(self.db_revision))
        )


def _repository(reference: str) -> str:
    """``host:port/team/app:1.0@sha256:…`` → ``host:port/team/app``."""
    name = reference.split("@", 1)[0]
    untagged, _, tag = name.rpartition(":")
    return untagged if untagged and "/" not in tag else name


@dataclass(frozen=True)
class Scan:
    id: str
    reference: str
    platform: str | None
    source: str
    queue: str
    status: ScanStatus
    digest: str | None
    engine: str
    engine_version: str
    db_revision: int
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration: float | None
    timings: dict[str, float]
    findings: int | None
    error: str | None

    @property
    def finished(self) -> bool:
        return self.status in (ScanStatus.DONE, ScanStatus.FAILED)


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    BUSY = "busy"  # another live attempt holds it
    FINISHED = "finished"


@dataclass(frozen=True)
class Claim:
    outcome: ClaimOutcome
    attempt: int = 0


@dataclass(frozen=True)
class DailyCount:
    day: date
    done: int
    failed: int


def _scan(row: ScanRow) -> Scan:
    return Scan(
        id=row.id,
        reference=row.reference,
        platform=row.platform,
        source=row.source,
        queue=row.queue,
        status=ScanStatus(row.status),
        digest=row.digest,
        engine=row.engine,
        engine_version=row.engine_version,
        db_revision=row.db_revision,
        attempts=row.attempts,
        created_at=as_utc(row.created_at),
        started_at=as_utc(row.started_at),
        finished_at=as_utc(row.finished_at),
        duration=row.duration,
        timings=json.loads(row.timings) if row.timings else {},
        findings=row.findings,
        error=row.error,
    )


class ScanStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def submit(self, request: ScanRequest, now: datetime | None = None) -> tuple[Scan, bool]:
        """The scan for ``request``: an existing equivalent one, or a new queued one.

        Returns ``(scan, created)``.
        """
        key = request.dedup_key
        existing = self._by_key(key)
        if existing is not None:
            return existing, False
        row = ScanRow(
            id=uuid.uuid4().hex,
            reference=request.reference,
            platform=request.platform,
            source=request.source,
            queue=request.queue,
            status=ScanStatus.QUEUED.value,
            dedup_key=key,
            digest=request.digest,
            engine=request.engine,
            engine_version=request.engine_version,
            db_revision=request.db_revision,
            created_at=now or datetime.now(UTC),
        )
        try:
            with session_scope(self.engine) as session:
                session.add(row)
        except IntegrityError:
            # A concurrent submission of the same key won the insert.
            existing = self._by_key(key)
            if existing is None:
                raise _unavailable("could not record the scan request") from None
            return existing, False
        except SQLAlchemyError as error:
            raise _unavailable("could not record the scan request") from error
        return _scan(row), True

    def get(self, scan_id: str) -> Scan:
        with self._read() as session:
            row = session.get(ScanRow, scan_id)
        if row is None:
            raise NotFoundError(f"no scan {scan_id!r}", hint="list scans or submit a new one")
        return _scan(row)

    def recent(
        self, *, digest: str | None = None, status: ScanStatus | None = None, limit: int = 100
    ) -> list[Scan]:
        """Scans newest first, of ``digest`` and in ``status`` when given."""
        query = select(ScanRow)
        if digest is not None:
            query = query.where(col(ScanRow.digest) == digest)
        if status is not None:
            query = query.where(col(ScanRow.status) == status.value)
        query = query.order_by(col(ScanRow.created_at).desc(), col(ScanRow.id)).limit(limit)
        with self._read() as session:
            return [_scan(row) for row in session.exec(query)]

    def claim(self, scan_id: str, lease_seconds: float, now: datetime | None = None) -> Claim:
        """Take ``scan_id`` for one attempt: queued, or running with an expired lease."""
        now = now or datetime.now(UTC)
        statement = (
            update(ScanRow)
            .where(col(ScanRow.id) == scan_id)
            .where(
                (col(ScanRow.status) == ScanStatus.QUEUED.value)
                | (
                    (col(ScanRow.status) == ScanStatus.RUNNING.value)
                    & (col(ScanRow.lease_until) < now)
                )
            )
            .values(
                status=ScanStatus.RUNNING.value,
                attempts=col(ScanRow.attempts) + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                started_at=now,
            )
        )
        with self._write() as session:
            claimed = session.exec(statement).rowcount == 1
            row = session.get(ScanRow, scan_id)
        if row is None:
            raise NotFoundError(f"no scan {scan_id!r}", hint="it may have been deleted")
        if claimed:
            return Claim(ClaimOutcome.CLAIMED, row.attempts)
        if row.status in (ScanStatus.DONE.value, ScanStatus.FAILED.value):
            return Claim(ClaimOutcome.FINISHED)
        return Claim(ClaimOutcome.BUSY)

    def heartbeat(self, scan_id: str, attempt: int, lease_seconds: float) -> bool:
        """Extend the lease of a running attempt; False when the attempt lost its claim."""
        return self._transition(
            scan_id,
            attempt,
            lease_until=datetime.now(UTC) + timedelta(seconds=lease_seconds),
        )

    def complete(
        self,
        scan_id: str,
        attempt: int,
        *,
        digest: str,
        timings: dict[str, float],
        findings: int,
        now: datetime | None = None,
    ) -> bool:
        """Record the result once; False when another attempt took the scan over."""
        now = now or datetime.now(UTC)
        scan = self.get(scan_id)
        started = scan.started_at or now
        done = self._transition(
            scan_id,
            attempt,
            status=ScanStatus.DONE.value,
            digest=digest,
            timings=json.dumps(timings),
            findings=findings,
            finished_at=now,
            duration=(now - started).total_seconds(),
            lease_until=None,
            error=None,
        )
        if done and scan.digest is None:
            # A tag moves: keep the key only when the request named a digest.
            self._clear_key(scan_id)
        return done

    def fail(self, scan_id: str, attempt: int, reason: str, now: datetime | None = None) -> bool:
        """Record a permanent failure; the key is released so the image can be scanned again."""
        return self._transition(
            scan_id,
            attempt,
            status=ScanStatus.FAILED.value,
            error=reason,
            finished_at=now or datetime.now(UTC),
            lease_until=None,
            dedup_key=None,
        )

    def release(self, scan_id: str, attempt: int, reason: str) -> bool:
        """Give the scan back to the queue after a transient error (it will be retried)."""
        return self._transition(
            scan_id, attempt, status=ScanStatus.QUEUED.value, error=reason, lease_until=None
        )

    def stranded(self, queued_before: datetime, now: datetime | None = None) -> list[Scan]:
        """Scans to dispatch again: queued since before ``queued_before``, or lease expired."""
        now = now or datetime.now(UTC)
        query = select(ScanRow).where(
            (
                (col(ScanRow.status) == ScanStatus.QUEUED.value)
                & (col(ScanRow.created_at) < queued_before)
            )
            | ((col(ScanRow.status) == ScanStatus.RUNNING.value) & (col(ScanRow.lease_until) < now))
        )
        with self._read() as session:
            return [_scan(row) for row in session.exec(query)]

    def waiting(self, queue: str) -> int:
        """Scans of ``queue`` not yet finished (queued or running)."""
        query = (
            select(func.count())
            .select_from(ScanRow)
            .where(
                col(ScanRow.queue) == queue,
                col(ScanRow.status).in_([ScanStatus.QUEUED.value, ScanStatus.RUNNING.value]),
            )
        )
        with self._read() as session:
            return int(session.exec(query).one())

    def queued_by_queue(self) -> dict[str, int]:
        """Scans waiting for a worker, per queue."""
        query = (
            select(col(ScanRow.queue), func.count())
            .where(col(ScanRow.status) == ScanStatus.QUEUED.value)
            .group_by(col(ScanRow.queue))
        )
        with self._read() as session:
            return {queue: int(n) for queue, n in session.exec(query)}

    def counts_by_status(self) -> dict[ScanStatus, int]:
        query = select(col(ScanRow.status), func.count()).group_by(col(ScanRow.status))
        with self._read() as session:
            found = {ScanStatus(status): int(n) for status, n in session.exec(query)}
        return {status: found.get(status, 0) for status in ScanStatus}

    def duration_buckets(self, bounds: Sequence[float]) -> tuple[list[int], int, float]:
        """Cumulative counts of finished scans per upper bound, total count and sum."""
        columns = [
            func.coalesce(func.sum(case((col(ScanRow.duration) <= b, 1), else_=0)), 0)
            for b in bounds
        ]
        query = sql_select(
            *columns, func.count(), func.coalesce(func.sum(col(ScanRow.duration)), 0.0)
        ).where(col(ScanRow.status) == ScanStatus.DONE.value)
        with self._read() as session:
            row = session.execute(query).one()
        values = list(row)
        return [int(v) for v in values[:-2]], int(values[-2]), float(values[-1])

    def daily(self, since: datetime) -> list[DailyCount]:
        day = func.date(col(ScanRow.finished_at))
        query = (
            select(
                day,
                func.sum(case((col(ScanRow.status) == ScanStatus.DONE.value, 1), else_=0)),
                func.sum(case((col(ScanRow.status) == ScanStatus.FAILED.value, 1), else_=0)),
            )
            .where(col(ScanRow.finished_at) >= since)
            .group_by(day)
            .order_by(day)
        )
        with self._read() as session:
            rows = session.exec(query).all()
        return [
            DailyCount(
                day=d if isinstance(d, date) else date.fromisoformat(str(d)),
                done=int(n_done or 0),
                failed=int(n_failed or 0),
            )
            for d, n_done, n_failed in rows
        ]

    def _by_key(self, key: str) -> Scan | None:
        with self._read() as session:
            row = session.exec(select(ScanRow).where(col(ScanRow.dedup_key) == key)).first()
        return _scan(row) if row is not None else None

    def _transition(self, scan_id: str, attempt: int, **values: object) -> bool:
        statement = (
            update(ScanRow)
            .where(col(ScanRow.id) == scan_id)
            .where(col(ScanRow.attempts) == attempt)
            .where(col(ScanRow.status) == ScanStatus.RUNNING.value)
            .values(**values)
        )
        with self._write() as session:
            changed: int = session.exec(statement).rowcount
        if not changed:
            logger.info("scan %s attempt %d no longer holds its claim", scan_id, attempt)
        return changed == 1

    def _clear_key(self, scan_id: str) -> None:
        with self._write() as session:
            session.exec(update(ScanRow).where(col(ScanRow.id) == scan_id).values(dedup_key=None))

    def _read(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not read scans"))

    def _write(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not update the scan"))


def _unavailable(what: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"{what}: the database is not reachable",
        hint="check TOLLGATE_DATABASE_URL and that the database is up, then retry",
    )
