"""The vulnerability database: advisories in SQL, indexed by (ecosystem, package), and
the facts CVE feeds add (see :mod:`service.store.cve_facts`).

One import of a feed runs in ONE transaction (a failure leaves the previous
data in use) and is incremental: a record is rewritten only when its content
changed and it is not older (by ``modified``) than the stored one; a withdrawn
record, or one a complete feed no longer holds, is removed. The ``affected``
entries records left out are counted by reason per source. Each import
takes the next revision and logs the (ecosystem, package) keys whose advisories
it added, changed or withdrew (for a CVE feed: the packages of the advisories naming
a CVE whose facts changed), so that re-evaluation can skip the stored catalogs an
update did not touch.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import PurePath

from sqlalchemy import JSON, Index, Text, delete, false, func, insert, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.errors import VulnDBError
from service.store.cve_facts import (
    AdvisoryCveRow,
    CveFactRow,
    advisory_cve_rows,
    load_facts,
    write_facts,
)
from service.store.database import guarded_session
from service.store.feed_documents import load_ledger, save_ledger
from service.utc import as_utc
from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import AnyFeed, CveFeed, Unchanged
from service.vulndb.feeds.ledger import Ledger
from service.vulndb.model import PackageKey
from service.vulndb.records import Advisory, SkippedRecord, VulnRecord

logger = logging.getLogger(__name__)

_CHUNK = 500
IMPORT_LOCK_KEY = 0x7011_1397  # pg_advisory_xact_lock key: imports take revisions one by one


class VulnRecordRow(SQLModel, table=True):
    __tablename__ = "vuln_record"

    source: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    modified: datetime | None = None
    digest: str
    withdrawn: bool = False


class AdvisoryRow(SQLModel, table=True):
    __tablename__ = "vuln_advisory"
    __table_args__ = (
        Index("ix_vuln_advisory_package", "ecosystem", "package"),
        Index("ix_vuln_advisory_record", "source", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    record_id: str
    ecosystem: str
    package: str
    payload: str = Field(sa_column=Column(Text, nullable=False))


class ChangedPackageRow(SQLModel, table=True):
    """A package whose advisories the import of ``revision`` added, changed or withdrew;
    ``signals_only``: that import changed only its findings' exploitation signals."""

    __tablename__ = "vuln_changed_package"

    revision: int = Field(primary_key=True)
    ecosystem: str = Field(primary_key=True)
    package: str = Field(primary_key=True)
    signals_only: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class FeedStateRow(SQLModel, table=True):
    __tablename__ = "vuln_feed_state"

    source: str = Field(primary_key=True)
    revision: int
    updated_at: datetime
    records: int
    skipped: int
    skipped_entries: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


@dataclass(frozen=True)
class ImportResult:
    """What one import did; ``withdrawn`` counts records withdrawn or gone from the feed,
    ``skipped`` unreadable records, ``skipped_entries`` left-out entries by reason."""

    source: str
    added: int
    updated: int
    unchanged: int
    withdrawn: int
    skipped: int
    revision: int
    skipped_entries: Mapping[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.withdrawn)


@dataclass(frozen=True)
class SourceStatus:
    source: str
    updated_at: datetime
    records: int
    skipped: int
    skipped_entries: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DBStatus:
    advisories_per_ecosystem: dict[str, int]
    sources: tuple[SourceStatus, ...]
    revision: int

    @property
    def last_update(self) -> datetime | None:
        return max((s.updated_at for s in self.sources), default=None)

    def age_hours(self, now: datetime | None = None) -> float | None:
        if self.last_update is None:
            return None
        return ((now or datetime.now(UTC)) - self.last_update).total_seconds() / 3600


class VulnStore:
    """Imports feeds and answers "which advisories name these packages" (cached per revision)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[PackageKey, tuple[Advisory, ...]] = {}
        self._cache_revision = -1
        self._ecosystems: tuple[int, frozenset[str]] | None = None  # (revision, names)
        self._facts: dict[str, CveFacts | None] = {}
        self._facts_revision = -1

    # --- import -----------------------------------------------------------------------

    def import_feed(self, feed: AnyFeed) -> ImportResult:
        """Import an advisory feed, or a CVE feed (NVD, CVE records, KEV, EPSS)."""
        with guarded_session(self.engine, lambda _: _import_failed(feed)) as session:
            return self._import(session, feed)

    def _import(self, session: Session, feed: AnyFeed) -> ImportResult:
        facts = isinstance(feed, CveFeed)
        ledger, items = _records(session, feed)
        reading = _Reading(feed.source)
        for item in items:
            reading.add(item)
        read, seen, counts, entries = reading.read, reading.seen, reading.counts, reading.entries
        table = _table(feed)
        existing = _stored_states(session, table, feed.source, [r.id for r in read])
        changed: list[VulnRecord | CveFacts] = []
        for item in read:
            previous = existing.get(item.id)
            if previous is not None and _is_current(previous, item):
                counts["unchanged"] += 1
                continue
            changed.append(item)
            counts["withdrawn" if item.withdrawn else "updated" if previous else "added"] += 1
        stored = _stored_ids(session, table, feed.source) if feed.complete else set()
        gone = sorted(stored - seen - reading.unreadable)
        counts["withdrawn"] += len(gone)
        replace = [r.id for r in changed if r.id in existing] + gone
        if facts:
            written = [f for f in changed if isinstance(f, CveFacts)]
            touched = write_facts(session, feed.source, written, replace=replace)
        else:
            records = [r for r in changed if isinstance(r, VulnRecord)]
            touched = self._write(session, feed.source, records, replace=replace)
        if ledger is not None:
            save_ledger(session, feed.source, ledger)
        revision = _next_revision(session)
        if touched:
            session.execute(
                insert(ChangedPackageRow),
                [
                    {
                        "revision": revision,
                        "ecosystem": ecosystem,
                        "package": package,
                        "signals_only": isinstance(feed, CveFeed) and feed.signals_only,
                    }
                    for ecosystem, package in sorted(touched)
                ],
            )
        state = session.get(FeedStateRow, feed.source) or FeedStateRow(
            source=feed.source, revision=0, updated_at=datetime.now(UTC), records=0, skipped=0
        )
        state.revision, state.updated_at = revision, datetime.now(UTC)
        state.records = _stored_count(session, table, feed.source)
        state.skipped = counts["skipped"]
        state.skipped_entries = dict(sorted(entries.items()))
        session.add(state)
        result = ImportResult(
            source=feed.source, revision=revision, skipped_entries=state.skipped_entries, **counts
        )
        if entries:
            logger.warning(
                "%s: %d affected entries left out (%s)",
                feed.source,
                entries.total(),
                ", ".join(f"{reason}: {n}" for reason, n in sorted(entries.items())),
            )
        logger.info("imported %s: %s", feed.source, result)
        return result

    @staticmethod
    def _write(
        session: Session, source: str, records: Sequence[VulnRecord], replace: Sequence[str]
    ) -> set[PackageKey]:
        """Replace the records ``replace`` names and insert ``records``; the keys of every
        advisory row this removed or added."""
        touched: set[PackageKey] = set()
        for start in range(0, len(replace), _CHUNK):
            ids = replace[start : start + _CHUNK]
            touched.update(
                (ecosystem, package)
                for ecosystem, package in session.execute(
                    select(col(AdvisoryRow.ecosystem), col(AdvisoryRow.package)).where(
                        col(AdvisoryRow.source) == source, col(AdvisoryRow.record_id).in_(ids)
                    )
                )
            )
            session.execute(
                delete(AdvisoryRow).where(
                    col(AdvisoryRow.source) == source, col(AdvisoryRow.record_id).in_(ids)
                )
            )
            for table in (VulnRecordRow, AdvisoryCveRow):
                session.execute(
                    delete(table).where(col(table.source) == source, col(table.record_id).in_(ids))
                )
        for start in range(0, len(records), _CHUNK):
            chunk = records[start : start + _CHUNK]
            session.execute(
                insert(VulnRecordRow),
                [
                    {
                        "source": source,
                        "record_id": r.id,
                        "modified": r.modified,
                        "digest": r.digest,
                        "withdrawn": r.withdrawn,
                    }
                    for r in chunk
                ],
            )
            rows = [
                {
                    "source": source,
                    "record_id": r.id,
                    "ecosystem": a.ecosystem,
                    "package": a.package,
                    "payload": a.model_dump_json(),
                }
                for r in chunk
                for a in r.advisories
            ]
            if rows:
                session.execute(insert(AdvisoryRow), rows)
            named = [row for r in chunk for row in advisory_cve_rows(source, r.id, r.advisories)]
            if named:
                session.execute(insert(AdvisoryCveRow), named)
        touched.update((a.ecosystem, a.package) for r in records for a in r.advisories)
        return touched

    # --- lookup -----------------------------------------------------------------------

    def revision(self) -> int:
        with Session(self.engine) as session:
            return _latest_revision(session)

    def aliases(self, vuln_id: str) -> set[str]:
        """The other ids of ``vuln_id``: the ids and aliases of every advisory that is, or
        names, ``vuln_id`` (a GHSA's CVE id, say). Reads every advisory's text: a search,
        not a lookup for the matcher."""
        named = col(AdvisoryRow.payload).contains(json.dumps(vuln_id), autoescape=True)
        query = select(col(AdvisoryRow.payload)).where(
            (col(AdvisoryRow.record_id) == vuln_id) | named
        )
        with Session(self.engine) as session:
            advisories = [Advisory.model_validate_json(p) for p in session.exec(query)]
        return {i for a in advisories for i in (a.id, *a.aliases)} - {vuln_id}

    def updated_at(self) -> datetime | None:
        """When a feed was last imported (None before the first import)."""
        with Session(self.engine) as session:
            value = session.exec(select(func.max(col(FeedStateRow.updated_at)))).one()
        return as_utc(value)

    def changed_packages(self, since: int) -> set[PackageKey] | None:
        """The keys whose advisories the imports after revision ``since`` added, changed or
        withdrew; None when that is unknown: the change log does not reach back to ``since``
        (data imported before the log was kept) or ``since`` is no revision of this database.
        """
        changes = self._changes(since)
        return None if changes is None else set(changes)

    def signal_packages(self, since: int) -> set[PackageKey]:
        """Of :meth:`changed_packages`, the keys only exploitation signals (KEV, EPSS) changed
        for: their findings need new signals, not a new match."""
        return {key for key, signals_only in (self._changes(since) or {}).items() if signals_only}

    def _changes(self, since: int) -> dict[PackageKey, bool] | None:
        """Each key changed after ``since``: whether only signal imports changed it."""
        with Session(self.engine) as session:
            latest = _latest_revision(session)
            if since >= latest:
                return {} if since == latest else None
            # every import from the first one that logged a change on logs its changes
            first = session.scalar(select(func.min(col(ChangedPackageRow.revision))))
            if first is None or since < first - 1:
                return None
            rows = session.execute(
                select(
                    col(ChangedPackageRow.ecosystem),
                    col(ChangedPackageRow.package),
                    col(ChangedPackageRow.signals_only),
                )
                .where(col(ChangedPackageRow.revision) > since)
                .distinct()
            )
            changes: dict[PackageKey, bool] = {}
            for ecosystem, package, signals_only in rows:
                changes[(ecosystem, package)] = changes.get((ecosystem, package), True) and bool(
                    signals_only
                )
            return changes

    def advisories(self, keys: Iterable[PackageKey]) -> dict[PackageKey, tuple[Advisory, ...]]:
        """Advisories naming each (ecosystem, package); parsed ranges are cached with them."""
        revision = self.revision()
        if revision != self._cache_revision:
            self._cache, self._cache_revision = {}, revision
        wanted = set(keys)
        missing = wanted - self._cache.keys()
        if missing:
            self._load(missing)
        return {key: self._cache[key] for key in wanted}

    def cve_facts(self, ids: Iterable[str]) -> dict[str, CveFacts]:
        """What the CVE feeds say about each of ``ids`` (cached per revision); ids no
        feed holds are left out."""
        revision = self.revision()
        if revision != self._facts_revision:
            self._facts, self._facts_revision = {}, revision
        wanted = set(ids)
        missing = wanted - self._facts.keys()
        if missing:
            with Session(self.engine) as session:
                found = load_facts(session, missing)
            self._facts.update({cve: found.get(cve) for cve in missing})
        return {cve: facts for cve in wanted if (facts := self._facts[cve]) is not None}

    def ecosystems(self) -> frozenset[str]:
        """The ecosystems the database holds advisories for (``PyPI``, ``Debian:12``…),
        read once per revision."""
        revision = self.revision()
        if self._ecosystems is None or self._ecosystems[0] != revision:
            with Session(self.engine) as session:
                names = session.scalars(select(col(AdvisoryRow.ecosystem)).distinct())
                self._ecosystems = (revision, frozenset(names))
        return self._ecosystems[1]

    def _load(self, keys: Collection[PackageKey]) -> None:
        by_ecosystem: dict[str, list[str]] = defaultdict(list)
        for ecosystem, package in keys:
            by_ecosystem[ecosystem].append(package)
        found: dict[PackageKey, list[Advisory]] = defaultdict(list)
        with Session(self.engine) as session:
            for ecosystem, packages in by_ecosystem.items():
                for start in range(0, len(packages), _CHUNK):
                    rows = session.execute(
                        select(col(AdvisoryRow.payload)).where(
                            col(AdvisoryRow.ecosystem) == ecosystem,
                            col(AdvisoryRow.package).in_(packages[start : start + _CHUNK]),
                        )
                    )
                    for (payload,) in rows:
                        advisory = Advisory.model_validate_json(payload)
                        found[(advisory.ecosystem, advisory.package)].append(advisory)
        for key in keys:
            self._cache[key] = tuple(found.get(key, ()))

    # --- status -----------------------------------------------------------------------

    def status(self) -> DBStatus:
        with Session(self.engine) as session:
            per_ecosystem = {
                ecosystem: int(count)
                for ecosystem, count in session.execute(
                    select(col(AdvisoryRow.ecosystem), func.count())
                    .group_by(col(AdvisoryRow.ecosystem))
                    .order_by(col(AdvisoryRow.ecosystem))
                )
            }
            states = session.scalars(select(FeedStateRow).order_by(col(FeedStateRow.source))).all()
            sources = tuple(
                SourceStatus(
                    source=s.source,
                    updated_at=as_utc(s.updated_at),
                    records=s.records,
                    skipped=s.skipped,
                    skipped_entries=dict(s.skipped_entries),
                )
                for s in states
            )
            revision = max((s.revision for s in states), default=0)
        return DBStatus(advisories_per_ecosystem=per_ecosystem, sources=sources, revision=revision)


@dataclass
class _Reading:
    """What an import read of a feed: the records to compare with the stored ones, and
    the ids of those it saw, unchanged or unreadable."""

    source: str
    seen: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)  # stored records with them are kept
    read: list[VulnRecord | CveFacts] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("added", "updated", "unchanged", "withdrawn", "skipped"), 0
        )
    )
    entries: Counter[str] = field(default_factory=Counter)  # left out, by reason

    def add(self, item: VulnRecord | CveFacts | Unchanged | SkippedRecord) -> None:
        if isinstance(item, SkippedRecord) or item.id in self.seen:
            reason = item.reason if isinstance(item, SkippedRecord) else "duplicate id"
            ref = item.ref if isinstance(item, SkippedRecord) else item.id
            logger.warning("%s: skipped record %s: %s", self.source, ref, reason)
            self.unreadable.add(PurePath(ref).stem)
            self.counts["skipped"] += 1
            return
        self.seen.add(item.id)
        if isinstance(item, Unchanged):
            self.counts["unchanged"] += 1
            return
        if isinstance(item, VulnRecord):
            _count_skipped_entries(self.source, item, self.entries)
        self.read.append(item)


def _records(
    session: Session, feed: AnyFeed
) -> tuple[Ledger | None, Iterator[VulnRecord | CveFacts | Unchanged | SkippedRecord]]:
    """A feed's records; for a CVE feed, read against the ledger of its documents (which
    the import records after)."""
    if isinstance(feed, CveFeed):
        ledger = load_ledger(session, feed.source, feed.format)
        return ledger, feed.records(ledger)
    return None, iter(feed.records())


_StateTable = type[VulnRecordRow] | type[CveFactRow]


def _table(feed: AnyFeed) -> _StateTable:
    """Where a feed's records are kept: advisory records, or facts about CVEs."""
    return CveFactRow if isinstance(feed, CveFeed) else VulnRecordRow


def _key(table: _StateTable) -> Mapped[str]:
    return col(CveFactRow.cve_id) if table is CveFactRow else col(VulnRecordRow.record_id)


def _stored_states(
    session: Session, table: _StateTable, source: str, ids: Sequence[str]
) -> dict[str, tuple[datetime | None, str]]:
    """``id → (modified, digest)`` of the stored records of ``source`` among ``ids``."""
    key, states = _key(table), {}
    for start in range(0, len(ids), _CHUNK):
        rows = session.execute(
            select(key, col(table.modified), col(table.digest)).where(
                col(table.source) == source, key.in_(ids[start : start + _CHUNK])
            )
        )
        states.update({record_id: (modified, digest) for record_id, modified, digest in rows})
    return states


def _stored_ids(session: Session, table: _StateTable, source: str) -> set[str]:
    return set(session.scalars(select(_key(table)).where(col(table.source) == source)))


def _stored_count(session: Session, table: _StateTable, source: str) -> int:
    query = select(func.count()).select_from(table).where(col(table.source) == source)
    return int(session.scalar(query) or 0)


def _latest_revision(session: Session) -> int:
    return int(session.scalar(select(func.max(col(FeedStateRow.revision)))) or 0)


def _next_revision(session: Session) -> int:
    """The revision of the import running in ``session``: no two imports that log changes
    share one, or a re-evaluation could read a revision before all its changes are in.

    On PostgreSQL imports wait for each other here until commit. On SQLite an import that
    wrote holds the database's write lock already; one that wrote nothing may share its
    revision with an import running beside it, but logs nothing and commits after it.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK_KEY})
    return _latest_revision(session) + 1


def _count_skipped_entries(source: str, record: VulnRecord, counts: Counter[str]) -> None:
    for entry in record.skipped:
        counts[entry.reason.value] += 1
        logger.debug(
            "%s: %s: affected entry %s left out: %s %s",
            source,
            record.id,
            entry.package or "(no package)",
            entry.reason.value,
            entry.detail,
        )


def _is_current(previous: tuple[datetime | None, str], record: VulnRecord | CveFacts) -> bool:
    stored_modified, stored_digest = previous
    if stored_digest == record.digest:
        return True
    stored_modified, incoming = as_utc(stored_modified), as_utc(record.modified)
    return stored_modified is not None and incoming is not None and incoming < stored_modified


def _import_failed(feed: AnyFeed) -> VulnDBError:
    return VulnDBError(
        f"importing {feed.source} failed; the previous data is kept",
        hint="check the database connection and retry",
    )
