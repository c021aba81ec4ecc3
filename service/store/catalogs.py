"""Stored catalogs (SBOMs) by image digest, their current findings and finding-diff events.

Catalogs are kept as ``Catalog.model_dump_json()`` so they can be matched
again after every vulnerability-database update without touching a registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Index, Text, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.catalog.model import Catalog
from service.errors import NotFoundError, TollgateError
from service.store.database import guarded_session
from service.utc import as_utc
from service.vulndb.model import Finding

logger = logging.getLogger(__name__)

EventKind = Literal["new", "resolved"]


class StoredCatalogRow(SQLModel, table=True):
    __tablename__ = "stored_catalog"

    digest: str = Field(primary_key=True)
    reference: str
    stored_at: datetime
    payload: str = Field(sa_column=Column(Text, nullable=False))


class CatalogFindingRow(SQLModel, table=True):
    __tablename__ = "catalog_finding"
    __table_args__ = (Index("ix_catalog_finding_digest", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    digest: str
    vuln_id: str
    package_key: str
    payload: str = Field(sa_column=Column(Text, nullable=False))


class FindingEventRow(SQLModel, table=True):
    __tablename__ = "finding_event"
    __table_args__ = (Index("ix_finding_event_digest", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    digest: str
    kind: str
    vuln_id: str
    package_key: str
    db_revision: int
    created_at: datetime
    payload: str = Field(sa_column=Column(Text, nullable=False))


@dataclass(frozen=True)
class FindingDiff:
    """How one image's findings changed."""

    digest: str
    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resolved)


@dataclass(frozen=True)
class FindingEvent:
    digest: str
    kind: EventKind
    finding: Finding
    db_revision: int
    created_at: datetime


class CatalogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def save(self, catalog: Catalog) -> None:
        """Store (or replace) the catalog of ``catalog.image.digest``."""
        with self._transaction() as session:
            session.merge(
                StoredCatalogRow(
                    digest=catalog.image.digest,
                    reference=catalog.image.reference,
                    stored_at=datetime.now(UTC),
                    payload=catalog.model_dump_json(),
                )
            )

    def get(self, digest: str) -> Catalog:
        with Session(self.engine) as session:
            row = session.get(StoredCatalogRow, digest)
        if row is None:
            raise NotFoundError(f"no catalog stored for {digest}", hint="scan the image first")
        return Catalog.model_validate_json(row.payload)

    def digests(self) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.scalars(
                    select(col(StoredCatalogRow.digest)).order_by(col(StoredCatalogRow.digest))
                )
            )

    def catalogs(self, batch: int = 200) -> Iterator[Catalog]:
        """Every stored catalog, read in batches ordered by digest."""
        digests = self.digests()
        for start in range(0, len(digests), batch):
            with Session(self.engine) as session:
                payloads = session.scalars(
                    select(col(StoredCatalogRow.payload))
                    .where(col(StoredCatalogRow.digest).in_(digests[start : start + batch]))
                    .order_by(col(StoredCatalogRow.digest))
                )
                rows = list(payloads)
            for payload in rows:
                yield Catalog.model_validate_json(payload)

    def findings(self, digest: str) -> list[Finding]:
        """The current findings of one image, sorted like ``match`` sorts them."""
        with Session(self.engine) as session:
            payloads = session.scalars(
                select(col(CatalogFindingRow.payload)).where(
                    col(CatalogFindingRow.digest) == digest
                )
            )
            findings = [Finding.model_validate_json(p) for p in payloads]
        return sorted(findings, key=lambda f: (f.key[1], f.id))

    def record_findings(
        self, results: Mapping[str, Sequence[Finding]], db_revision: int
    ) -> list[FindingDiff]:
        """Replace the current findings of each image; store and return what changed.

        All images are written in one transaction.
        """
        now = datetime.now(UTC)
        diffs = []
        with self._transaction() as session:
            for digest, findings in results.items():
                old = {
                    (vuln_id, package_key): (row_id, payload)
                    for row_id, vuln_id, package_key, payload in session.execute(
                        select(
                            col(CatalogFindingRow.id),
                            col(CatalogFindingRow.vuln_id),
                            col(CatalogFindingRow.package_key),
                            col(CatalogFindingRow.payload),
                        ).where(col(CatalogFindingRow.digest) == digest)
                    )
                }
                current = {f.key: f for f in findings}
                payloads = {key: f.model_dump_json() for key, f in current.items()}
                diff = FindingDiff(
                    digest=digest,
                    new=tuple(f for key, f in sorted(current.items()) if key not in old),
                    resolved=tuple(
                        Finding.model_validate_json(payload)
                        for key, (_, payload) in sorted(old.items())
                        if key not in current
                    ),
                )
                diffs.append(diff)
                # write only what changed: most findings survive a re-evaluation as they were
                stale = [
                    row_id for key, (row_id, payload) in old.items() if payloads.get(key) != payload
                ]
                for start in range(0, len(stale), 500):
                    session.execute(
                        delete(CatalogFindingRow).where(
                            col(CatalogFindingRow.id).in_(stale[start : start + 500])
                        )
                    )
                fresh = [
                    (key, payload)
                    for key, payload in payloads.items()
                    if old.get(key, (None, None))[1] != payload
                ]
                if fresh:
                    session.execute(
                        insert(CatalogFindingRow),
                        [
                            {
                                "digest": digest,
                                "vuln_id": key[0],
                                "package_key": key[1],
                                "payload": payload,
                            }
                            for key, payload in fresh
                        ],
                    )
                events = [("new", f) for f in diff.new] + [("resolved", f) for f in diff.resolved]
                if events:
                    session.execute(
                        insert(FindingEventRow),
                        [
                            {
                                "digest": digest,
                                "kind": kind,
                                "vuln_id": f.key[0],
                                "package_key": f.key[1],
                                "db_revision": db_revision,
                                "created_at": now,
                                "payload": payloads.get(f.key) or f.model_dump_json(),
                            }
                            for kind, f in events
                        ],
                    )
        return diffs

    def events(self, digest: str | None = None) -> list[FindingEvent]:
        """Finding-diff events, oldest first (all images, or one)."""
        query = select(FindingEventRow).order_by(col(FindingEventRow.id))
        if digest is not None:
            query = query.where(col(FindingEventRow.digest) == digest)
        with Session(self.engine) as session:
            rows = session.scalars(query).all()
        return [
            FindingEvent(
                digest=row.digest,
                kind="new" if row.kind == "new" else "resolved",
                finding=Finding.model_validate_json(row.payload),
                db_revision=row.db_revision,
                created_at=as_utc(row.created_at),
            )
            for row in rows
        ]

    def _transaction(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, _unwritable)


def _unwritable(_error: SQLAlchemyError) -> TollgateError:
    return TollgateError(
        "the catalog store could not be written", hint="check TOLLGATE_DATABASE_URL and retry"
    )
