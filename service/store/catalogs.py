"""Stored catalogs (SBOMs) by image digest, their current findings and finding-diff events.

Catalogs are kept as ``Catalog.model_dump_json()`` so they can be matched
again after every vulnerability-database update without touching a registry.
With each catalog the store keeps the lookup key and reference of each package it
matches (one ``catalog_package`` row each) and the database revision its findings were
matched at, so that an update re-matches only the packages whose advisories changed,
without reading the catalogs that hold them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Index, Text, delete, insert, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.catalog.model import Catalog
from service.errors import NotFoundError, TollgateError
from service.store.database import guarded_session, table_of
from service.utc import as_utc
from service.vulndb.model import Finding, MatchablePackage, PackageKey, PackageRef, sort_findings

logger = logging.getLogger(__name__)

EventKind = Literal["new", "resolved"]

_CHUNK = 500


class StoredCatalogRow(SQLModel, table=True):
    __tablename__ = "stored_catalog"

    digest: str = Field(primary_key=True)
    reference: str
    stored_at: datetime
    payload: str = Field(sa_column=Column(Text, nullable=False))


class CatalogPackageRow(SQLModel, table=True):
    """A package of a stored catalog that is looked up in the vulnerability database: its
    lookup key (ecosystem, package, lookup_version) and the reference its findings name."""

    __tablename__ = "catalog_package"
    __table_args__ = (
        Index("ix_catalog_package_key", "ecosystem", "package"),
        Index("ix_catalog_package_name", "name"),  # package search
        Index("ix_catalog_package_purl", "purl"),
    )

    digest: str = Field(primary_key=True)
    position: int = Field(primary_key=True)  # in Catalog.packages
    ecosystem: str
    package: str
    lookup_version: str
    package_key: str  # Package.key: the findings of the package are stored under it
    name: str
    version: str
    type: str
    purl: str | None = None


class CatalogMatchRow(SQLModel, table=True):
    """The vulnerability-database revision a stored catalog's findings are current at
    (no row: never matched since it was stored, or stored before revisions were kept)."""

    __tablename__ = "catalog_match"

    digest: str = Field(primary_key=True)
    revision: int


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
    """How one image's findings changed; ``updated``: findings still there whose content
    changed (severity, CVSS, KEV, EPSS, fixes), as they are now; ``previous``: the same
    findings as they were."""

    digest: str
    new: tuple[Finding, ...]
    resolved: tuple[Finding, ...]
    updated: tuple[Finding, ...] = ()
    previous: tuple[Finding, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.new or self.resolved or self.updated)


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

    def save(self, catalog: Catalog, packages: Sequence[MatchablePackage]) -> None:
        """Store (or replace) the catalog of ``catalog.image.digest`` with its matchable
        ``packages``; its findings count as unmatched until :meth:`record_findings`."""
        with self._transaction() as session:
            session.merge(
                StoredCatalogRow(
                    digest=catalog.image.digest,
                    reference=catalog.image.reference,
                    stored_at=datetime.now(UTC),
                    payload=catalog.model_dump_json(),
                )
            )
            session.execute(
                delete(CatalogMatchRow).where(col(CatalogMatchRow.digest) == catalog.image.digest)
            )
            _write_packages(session, {catalog.image.digest: packages})

    def index_packages(self, catalogs: Mapping[str, Sequence[MatchablePackage]]) -> None:
        """Store the matchable packages of those ``catalogs`` (by digest) that have none
        (stored before they were kept)."""
        if not catalogs:
            return
        with self._transaction() as session:
            indexed = set(
                session.scalars(
                    select(col(CatalogPackageRow.digest))
                    .where(col(CatalogPackageRow.digest).in_(list(catalogs)))
                    .distinct()
                )
            )
            _write_packages(session, {d: p for d, p in catalogs.items() if d not in indexed})

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

    def catalogs(
        self, digests: Collection[str] | None = None, batch: int = 200
    ) -> Iterator[Catalog]:
        """The stored catalogs of ``digests`` (default: all), read in batches ordered by
        digest."""
        digests = self.digests() if digests is None else sorted(digests)
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

    def matched_revisions(self) -> dict[int | None, list[str]]:
        """Every stored digest, by the revision its findings were last matched at (None:
        unknown)."""
        groups: dict[int | None, list[str]] = defaultdict(list)
        with Session(self.engine) as session:
            rows = session.execute(
                select(col(StoredCatalogRow.digest), col(CatalogMatchRow.revision))
                .outerjoin(
                    CatalogMatchRow, col(CatalogMatchRow.digest) == col(StoredCatalogRow.digest)
                )
                .order_by(col(StoredCatalogRow.digest))
            )
            for digest, revision in rows:
                groups[revision].append(digest)
        return dict(groups)

    def digests_holding(self, keys: Iterable[PackageKey], among: Collection[str]) -> set[str]:
        """Those of ``among`` whose catalogs hold a package looked up under one of ``keys``."""
        wanted = sorted(keys)
        found: set[str] = set()
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _CHUNK):
                found.update(
                    session.scalars(
                        select(col(CatalogPackageRow.digest))
                        .where(_looked_up_under(CatalogPackageRow, wanted[start : start + _CHUNK]))
                        .distinct()
                    )
                )
        return found & set(among)

    def packages(
        self, digests: Sequence[str], keys: Collection[PackageKey]
    ) -> dict[str, list[MatchablePackage]]:
        """The packages of ``digests`` looked up under one of ``keys``, and those stored
        under the same package key in the same catalog (their findings are stored together),
        in catalog order."""
        hit = aliased(CatalogPackageRow)
        wanted = sorted(keys)
        rows: dict[tuple[str, int], MatchablePackage] = {}
        with Session(self.engine) as session:
            for start in range(0, len(digests), _CHUNK):
                for first in range(0, len(wanted), _CHUNK):
                    holding = select(hit.digest, hit.package_key).where(
                        col(hit.digest).in_(digests[start : start + _CHUNK]),
                        _looked_up_under(hit, wanted[first : first + _CHUNK]),
                    )
                    for row in session.execute(
                        select(CatalogPackageRow).where(
                            tuple_(
                                col(CatalogPackageRow.digest), col(CatalogPackageRow.package_key)
                            ).in_(holding)
                        )
                    ).scalars():
                        rows[row.digest, row.position] = _stored_package(row)
        found: dict[str, list[MatchablePackage]] = defaultdict(list)
        for (digest, _), package in sorted(rows.items()):
            found[digest].append(package)
        return dict(found)

    def mark_current(self, digests: Sequence[str], matched_at: int, revision: int) -> None:
        """The findings of ``digests``, matched at ``matched_at``, hold at ``revision`` too
        (no advisory of their packages changed); a catalog stored again meanwhile is left
        unmatched."""
        with self._transaction() as session:
            for start in range(0, len(digests), _CHUNK):
                session.execute(
                    update(CatalogMatchRow)
                    .where(
                        col(CatalogMatchRow.digest).in_(digests[start : start + _CHUNK]),
                        col(CatalogMatchRow.revision) == matched_at,
                    )
                    .values(revision=revision)
                )

    def findings(self, digest: str) -> list[Finding]:
        """The current findings of one image, sorted like ``match`` sorts them."""
        with Session(self.engine) as session:
            payloads = session.scalars(
                select(col(CatalogFindingRow.payload)).where(
                    col(CatalogFindingRow.digest) == digest
                )
            )
            findings = [Finding.model_validate_json(p) for p in payloads]
        return sort_findings(findings)

    def findings_of(self, vuln_id: str, digests: Collection[str]) -> dict[str, list[Finding]]:
        """The current findings of ``vuln_id`` in each of ``digests`` (by the digest index)."""
        found: dict[str, list[Finding]] = defaultdict(list)
        keys = sorted(digests)
        with Session(self.engine) as session:
            for start in range(0, len(keys), _CHUNK):
                rows = session.execute(
                    select(col(CatalogFindingRow.digest), col(CatalogFindingRow.payload)).where(
                        col(CatalogFindingRow.digest).in_(keys[start : start + _CHUNK]),
                        col(CatalogFindingRow.vuln_id) == vuln_id,
                    )
                )
                for digest, payload in rows:
                    found[digest].append(Finding.model_validate_json(payload))
        return {digest: sort_findings(items) for digest, items in found.items()}

    def holding_package(self, name_or_purl: str, limit: int) -> dict[str, list[PackageRef]]:
        """Up to ``limit`` images holding a matched package named ``name_or_purl`` (a name,
        or a purl: without a version it names every version), with those packages."""
        column = col(CatalogPackageRow.purl) if name_or_purl.startswith("pkg:") else None
        if column is None:
            condition = col(CatalogPackageRow.name) == name_or_purl
        elif "@" in name_or_purl:
            condition = column == name_or_purl
        else:
            condition = column.startswith(f"{name_or_purl}@", autoescape=True)
        digests = (
            select(col(CatalogPackageRow.digest))
            .where(condition)
            .distinct()
            .order_by(col(CatalogPackageRow.digest))
            .limit(limit)
        )
        query = select(CatalogPackageRow).where(
            condition, col(CatalogPackageRow.digest).in_(digests)
        )
        found: dict[str, list[PackageRef]] = defaultdict(list)
        with Session(self.engine) as session:
            for row in session.exec(query):
                found[row.digest].append(_stored_package(row).ref)
        return dict(found)

    def stored_findings(self, scopes: Mapping[str, Collection[str]]) -> dict[str, list[Finding]]:
        """The findings stored for each digest under the package keys ``scopes`` lists."""
        with Session(self.engine) as session:
            return {
                digest: [
                    Finding.model_validate_json(payload)
                    for _, payload in _stored_findings(session, digest, keys).values()
                ]
                for digest, keys in scopes.items()
            }

    def record_findings(
        self,
        results: Mapping[str, Sequence[Finding]],
        db_revision: int,
        packages: Mapping[str, Collection[str]] | None = None,
        read: Mapping[str, Mapping[tuple[str, str], Finding]] | None = None,
    ) -> list[FindingDiff]:
        """Replace the current findings of each image, matched at ``db_revision``; store and
        return what changed.

        With ``packages``, only an image's findings stored under the package keys it lists
        for the image are replaced (``results`` holds the findings of those packages); its
        other findings stay as they are. ``read``: per image, stored findings the caller
        has read already, by key (not parsed again for the diff). All images are written
        in one transaction.
        """
        now = datetime.now(UTC)
        diffs = []
        with self._transaction() as session:
            for digest, findings in results.items():
                old = _stored_findings(
                    session, digest, None if packages is None else packages[digest]
                )
                current = {f.key: f for f in findings}
                known = (read or {}).get(digest, {})
                payloads = {key: f.model_dump_json() for key, f in current.items()}
                updated = sorted(k for k in current if k in old and old[k][1] != payloads[k])
                diff = FindingDiff(
                    digest=digest,
                    new=tuple(f for key, f in sorted(current.items()) if key not in old),
                    resolved=tuple(
                        Finding.model_validate_json(payload)
                        for key, (_, payload) in sorted(old.items())
                        if key not in current
                    ),
                    updated=tuple(current[key] for key in updated),
                    previous=tuple(
                        known.get(key) or Finding.model_validate_json(old[key][1])
                        for key in updated
                    ),
                )
                diffs.append(diff)
                # write only what changed: most findings survive a re-evaluation as they were
                stale = [
                    row_id for key, (row_id, payload) in old.items() if payloads.get(key) != payload
                ]
                for start in range(0, len(stale), _CHUNK):
                    session.execute(
                        delete(CatalogFindingRow).where(
                            col(CatalogFindingRow.id).in_(stale[start : start + _CHUNK])
                        )
                    )
                fresh = [
                    (key, payload)
                    for key, payload in payloads.items()
                    if old.get(key, (None, None))[1] != payload
                ]
                if fresh:
                    session.execute(
                        insert(table_of(CatalogFindingRow)),
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
            matched = list(results)
            for start in range(0, len(matched), _CHUNK):
                session.execute(
                    delete(CatalogMatchRow).where(
                        col(CatalogMatchRow.digest).in_(matched[start : start + _CHUNK])
                    )
                )
            if matched:
                session.execute(
                    insert(CatalogMatchRow),
                    [{"digest": digest, "revision": db_revision} for digest in matched],
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


def _stored_findings(
    session: Session, digest: str, package_keys: Collection[str] | None
) -> dict[tuple[str, str], tuple[int | None, str]]:
    """The findings stored for ``digest`` (those under ``package_keys`` when given): row id
    and payload by finding key."""
    query = select(
        col(CatalogFindingRow.id),
        col(CatalogFindingRow.vuln_id),
        col(CatalogFindingRow.package_key),
        col(CatalogFindingRow.payload),
    ).where(col(CatalogFindingRow.digest) == digest)
    queries = [query]
    if package_keys is not None:
        keys = sorted(package_keys)
        queries = [
            query.where(col(CatalogFindingRow.package_key).in_(keys[start : start + _CHUNK]))
            for start in range(0, len(keys), _CHUNK)
        ]
    return {
        (vuln_id, package_key): (row_id, payload)
        for query in queries
        for row_id, vuln_id, package_key, payload in session.execute(query)
    }


def _write_packages(session: Session, catalogs: Mapping[str, Sequence[MatchablePackage]]) -> None:
    """Replace the matchable packages stored for ``catalogs`` (by digest)."""
    digests = list(catalogs)
    for start in range(0, len(digests), _CHUNK):
        session.execute(
            delete(CatalogPackageRow).where(
                col(CatalogPackageRow.digest).in_(digests[start : start + _CHUNK])
            )
        )
    rows = [
        {
            "digest": digest,
            "position": position,
            "ecosystem": package.lookup[0],
            "package": package.lookup[1],
            "lookup_version": package.lookup[2],
            "package_key": package.key,
            **package.ref.model_dump(),
        }
        for digest, packages in catalogs.items()
        for position, package in enumerate(packages)
    ]
    if rows:
        session.execute(insert(CatalogPackageRow), rows)


def _stored_package(row: CatalogPackageRow) -> MatchablePackage:
    return MatchablePackage(
        lookup=(row.ecosystem, row.package, row.lookup_version),
        ref=PackageRef(name=row.name, version=row.version, type=row.type, purl=row.purl),
        key=row.package_key,
    )


def _unwritable(_error: SQLAlchemyError) -> TollgateError:
    return TollgateError(
        "the catalog store could not be written", hint="check TOLLGATE_DATABASE_URL and retry"
    )


def _looked_up_under(
    rows: type[CatalogPackageRow], keys: Sequence[PackageKey]
) -> ColumnElement[bool]:
    """``rows`` (the table or an alias of it) whose (ecosystem, package) is one of ``keys``."""
    return tuple_(rows.ecosystem, rows.package).in_(keys)
