"""Scanned images, denormalised for the API and dashboard.

Each image row carries its severity counts, fixable count, latest policy outcome and
the service key's signature status, so listing and summarising 10,000 images reads one
narrow table. ``image_vuln`` holds (digest, vulnerability) pairs indexed by vulnerability
id, and ``vuln_summary`` keeps how many images each vulnerability affects, updated
incrementally on every write.
"""

from __future__ import annotations

import importlib
import logging
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import Index, case, delete, func, insert, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Column, Field, Session, SQLModel, Text, col, select

from service.errors import NotFoundError, StoreUnavailableError
from service.image.model import ImageConfig
from service.layers.model import LayerAnalysis
from service.signing.model import SignatureStatus
from service.store.database import guarded_session, table_of
from service.utc import as_utc
from service.vulndb.model import Finding, Severity

logger = logging.getLogger(__name__)

_CONFIG_JSON = TypeAdapter(ImageConfig)  # the config column

SEVERITIES = tuple(reversed(Severity))  # critical first


class ImageRow(SQLModel, table=True):
    __tablename__ = "image"
    __table_args__ = (
        Index("ix_image_repository", "repository"),
        Index("ix_image_max_severity", "max_severity"),
        Index("ix_image_policy_outcome", "policy_outcome"),
        Index("ix_image_scanned_at", "scanned_at"),
    )

    digest: str = Field(primary_key=True)
    reference: str
    registry_host: str  # ``registry`` is reserved by SQLAlchemy's declarative base
    repository: str
    platform: str
    first_seen: datetime
    scanned_at: datetime
    last_scan_id: str | None = None
    packages: int = 0
    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    negligible: int = 0
    unknown: int = 0
    fixable: int = 0
    max_severity: int = -1  # Severity.rank of the worst finding, -1 when clean
    policy_outcome: str | None = None
    scan_state: str = "scanned"  # or "failed": no scan of this digest ever succeeded
    signed_by: str = ""  # space-separated key ids whose signatures verified
    attestations: str = ""  # space-separated predicate type URIs that verified
    size: int | None = None
    config: str | None = Field(default=None, sa_column=Column(Text))  # ImageConfig JSON
    layer_analysis: str | None = Field(default=None, sa_column=Column(Text))  # LayerAnalysis


class ImageVulnRow(SQLModel, table=True):
    __tablename__ = "image_vuln"
    __table_args__ = (
        Index("ix_image_vuln_vuln_id", "vuln_id"),
        Index("ix_image_vuln_digest", "digest"),
    )

    id: int | None = Field(default=None, primary_key=True)
    digest: str
    vuln_id: str
    severity: str
    fixable: bool


class VulnSummaryRow(SQLModel, table=True):
    __tablename__ = "vuln_summary"
    __table_args__ = (Index("ix_vuln_summary_affected", "affected_images"),)

    vuln_id: str = Field(primary_key=True)
    severity: str
    fixable: bool
    affected_images: int = 0


@dataclass(frozen=True)
class ImageSubjectInfo:
    digest: str
    reference: str
    registry: str
    repository: str
    platform: str
    packages: int
    config: ImageConfig | None = None  # what policies read on re-evaluation
    size: int | None = None
    layers: LayerAnalysis | None = None


@dataclass(frozen=True)
class ImageSummary:
    digest: str
    reference: str
    registry: str
    repository: str
    platform: str
    first_seen: datetime
    scanned_at: datetime
    last_scan_id: str | None
    packages: int
    severities: dict[str, int]
    fixable: int
    policy_outcome: str | None
    scan_state: str
    signatures: SignatureStatus
    config: ImageConfig | None
    size: int | None
    layers: LayerAnalysis | None = None

    @property
    def subject(self) -> ImageSubjectInfo:
        return ImageSubjectInfo(
            digest=self.digest,
            reference=self.reference,
            registry=self.registry,
            repository=self.repository,
            platform=self.platform,
            packages=self.packages,
            config=self.config,
            size=self.size,
            layers=self.layers,
        )


@dataclass(frozen=True)
class ImageFilter:
    repository: str | None = None
    min_severity: Severity | None = None
    policy_outcome: str | None = None
    registry: str | None = None
    tag: str | None = None
    vulnerability: str | None = None  # images holding this vulnerability id
    signed: bool | None = None  # a signature verified (or none did)
    scan_state: str | None = None  # scanned | failed


class ImageSort(StrEnum):
    """Orders of an image page; each breaks ties by digest."""

    SCANNED = "scanned"  # most recently scanned first
    RISK = "risk"  # most critical, then high, medium, low findings first
    REFERENCE = "reference"
    FIRST_SEEN = "first_seen"  # newest first


@dataclass(frozen=True)
class Totals:
    images: int
    findings: dict[str, int]
    fixable: int
    policy: dict[str, int]
    scan_states: dict[str, int]


@dataclass(frozen=True)
class VulnSpread:
    vuln_id: str
    severity: str
    fixable: bool
    affected_images: int


def _new_row(session: Session, subject: ImageSubjectInfo, now: datetime) -> ImageRow:
    """The row of an image seen for the first time, added to ``session``."""
    row = ImageRow(
        digest=subject.digest,
        reference=subject.reference,
        registry_host=subject.registry,
        repository=subject.repository,
        platform=subject.platform,
        first_seen=now,
        scanned_at=now,
    )
    session.add(row)
    return row


def _summary(row: ImageRow) -> ImageSummary:
    return ImageSummary(
        digest=row.digest,
        reference=row.reference,
        registry=row.registry_host,
        repository=row.repository,
        platform=row.platform,
        first_seen=as_utc(row.first_seen),
        scanned_at=as_utc(row.scanned_at),
        last_scan_id=row.last_scan_id,
        packages=row.packages,
        severities={s.value: getattr(row, s.value) for s in SEVERITIES},
        fixable=row.fixable,
        policy_outcome=row.policy_outcome,
        scan_state=row.scan_state,
        signatures=SignatureStatus(
            signed_by=tuple(row.signed_by.split()), attestations=tuple(row.attestations.split())
        ),
        config=_CONFIG_JSON.validate_json(row.config) if row.config else None,
        size=row.size,
        layers=(
            LayerAnalysis.model_validate_json(row.layer_analysis) if row.layer_analysis else None
        ),
    )


def _per_vuln(findings: Iterable[Finding]) -> dict[str, tuple[Severity, bool]]:
    """One entry per vulnerability id: its worst severity and whether any fix exists."""
    worst: dict[str, tuple[Severity, bool]] = {}
    for finding in findings:
        if finding.vex is not None:
            continue
        severity, fixable = worst.get(finding.id, (Severity.UNKNOWN, False))
        if finding.severity.rank > severity.rank:
            severity = finding.severity
        worst[finding.id] = (severity, fixable or finding.fix_available)
    return worst


class ImageStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(
        self,
        subject: ImageSubjectInfo,
        findings: Sequence[Finding],
        *,
        scan_id: str | None,
        policy_outcome: str | None = None,
        signatures: SignatureStatus | None = None,
        now: datetime | None = None,
    ) -> None:
        """Replace what is known about ``subject.digest`` with ``findings``."""
        signatures = signatures or SignatureStatus()
        now = now or datetime.now(UTC)
        vulns = _per_vuln(findings)
        counts = Counter(severity.value for severity, _ in vulns.values())
        values = {
            "reference": subject.reference,
            "registry_host": subject.registry,
            "repository": subject.repository,
            "platform": subject.platform,
            "scanned_at": now,
            "last_scan_id": scan_id,
            "packages": subject.packages,
            "fixable": sum(1 for _, fixable in vulns.values() if fixable),
            "max_severity": max((s.rank for s, _ in vulns.values()), default=-1),
            "policy_outcome": policy_outcome,
            "scan_state": "scanned",
            "signed_by": " ".join(signatures.signed_by),
            "attestations": " ".join(signatures.attestations),
            "size": subject.size,
            "config": _CONFIG_JSON.dump_json(subject.config).decode() if subject.config else None,
            "layer_analysis": subject.layers.model_dump_json() if subject.layers else None,
            **{s.value: counts.get(s.value, 0) for s in SEVERITIES},
        }
        with self._write() as session:
            row = session.get(ImageRow, subject.digest)
            if row is None:
                row = _new_row(session, subject, now)
            for name, value in values.items():
                setattr(row, name, value)
            old = set(
                session.exec(
                    select(col(ImageVulnRow.vuln_id)).where(
                        col(ImageVulnRow.digest) == subject.digest
                    )
                )
            )
            session.exec(delete(ImageVulnRow).where(col(ImageVulnRow.digest) == subject.digest))
            if vulns:
                session.execute(
                    insert(table_of(ImageVulnRow)),
                    [
                        {
                            "digest": subject.digest,
                            "vuln_id": vuln_id,
                            "severity": severity.value,
                            "fixable": fixable,
                        }
                        for vuln_id, (severity, fixable) in vulns.items()
                    ],
                )
            self._adjust_spread(session, {v: vulns[v] for v in vulns.keys() - old}, +1)
            self._adjust_spread(session, dict.fromkeys(old - vulns.keys()), -1)

    def scanned(self, digest: str) -> bool:
        """Whether a scan of ``digest`` ever succeeded."""
        with self._read() as session:
            row = session.get(ImageRow, digest)
        return row is not None and row.scan_state == "scanned"

    def record_failure(
        self,
        subject: ImageSubjectInfo,
        *,
        scan_id: str,
        policy_outcome: str,
        now: datetime | None = None,
    ) -> None:
        """Keep a failed-scan row for a digest no scan ever succeeded on (with its decision)."""
        now = now or datetime.now(UTC)
        with self._write() as session:
            row = session.get(ImageRow, subject.digest)
            if row is not None and row.scan_state == "scanned":
                return  # what an earlier successful scan found stays
            if row is None:
                row = _new_row(session, subject, now)
            row.scanned_at = now
            row.last_scan_id = scan_id
            row.policy_outcome = policy_outcome
            row.scan_state = "failed"

    def digests(self) -> list[str]:
        """Every stored image's digest."""
        with self._read() as session:
            return list(session.exec(select(col(ImageRow.digest)).order_by(col(ImageRow.digest))))

    def get(self, digest: str) -> ImageSummary:
        with self._read() as session:
            row = session.get(ImageRow, digest)
        if row is None:
            raise NotFoundError(f"no scanned image {digest}", hint="submit a scan for it first")
        return _summary(row)

    def summaries(self, digests: Collection[str]) -> dict[str, ImageSummary]:
        """The images among ``digests`` that are stored, by digest."""
        query = select(ImageRow).where(col(ImageRow.digest).in_(list(digests)))
        with self._read() as session:
            return {row.digest: _summary(row) for row in session.exec(query)}

    def page(
        self,
        where: ImageFilter,
        *,
        limit: int,
        offset: int,
        sort: ImageSort = ImageSort.SCANNED,
    ) -> tuple[list[ImageSummary], int]:
        """One page of images in ``sort`` order and the total matching (both in SQL)."""
        conditions = _conditions(where)
        page = (
            select(ImageRow)
            .where(*conditions)
            .order_by(*_ORDER[sort], col(ImageRow.digest))
            .limit(limit)
            .offset(offset)
        )
        total = select(func.count()).select_from(ImageRow).where(*conditions)
        with self._read() as session:
            rows = session.exec(page).all()
            count = int(session.exec(total).one())
        return [_summary(row) for row in rows], count

    def totals(self) -> Totals:
        sums = [func.coalesce(func.sum(getattr(ImageRow, s.value)), 0) for s in SEVERITIES]
        failed = func.coalesce(
            func.sum(case((col(ImageRow.scan_state) == "failed", 1), else_=0)), 0
        )
        query = sql_select(
            func.count(), failed, func.coalesce(func.sum(col(ImageRow.fixable)), 0), *sums
        )
        policy = select(col(ImageRow.policy_outcome), func.count()).group_by(
            col(ImageRow.policy_outcome)
        )
        with self._read() as session:
            images, failures, fixable, *per_severity = session.execute(query).one()
            outcomes = {o: int(n) for o, n in session.exec(policy) if o is not None}
        return Totals(
            images=int(images),
            findings={s.value: int(n) for s, n in zip(SEVERITIES, per_severity, strict=True)},
            fixable=int(fixable),
            policy=outcomes,
            scan_states={"scanned": int(images) - int(failures), "failed": int(failures)},
        )

    def first_seen_daily(self, since: datetime) -> dict[str, int]:
        day = func.date(col(ImageRow.first_seen))
        query = (
            select(day, func.count())
            .where(col(ImageRow.first_seen) >= since)
            .group_by(day)
            .order_by(day)
        )
        with self._read() as session:
            return {str(d): int(n) for d, n in session.exec(query)}

    def spread(self, vuln_id: str) -> VulnSpread | None:
        """How many images hold ``vuln_id`` (its worst severity, whether a fix exists)."""
        with self._read() as session:
            row = session.get(VulnSummaryRow, vuln_id)
        if row is None or row.affected_images <= 0:
            return None
        return VulnSpread(row.vuln_id, row.severity, row.fixable, row.affected_images)

    def top_vulnerabilities(self, limit: int) -> list[VulnSpread]:
        query = (
            select(VulnSummaryRow)
            .where(col(VulnSummaryRow.affected_images) > 0)
            .order_by(col(VulnSummaryRow.affected_images).desc(), col(VulnSummaryRow.vuln_id))
            .limit(limit)
        )
        with self._read() as session:
            return [
                VulnSpread(r.vuln_id, r.severity, r.fixable, r.affected_images)
                for r in session.exec(query)
            ]

    def _adjust_spread(
        self, session: Session, vulns: dict[str, tuple[Severity, bool] | None], delta: int
    ) -> None:
        if not vulns:
            return
        if delta < 0:
            session.exec(
                update(VulnSummaryRow)
                .where(col(VulnSummaryRow.vuln_id).in_(list(vulns)))
                .values(affected_images=col(VulnSummaryRow.affected_images) + delta)
            )
            return
        # The dialect's own upsert, imported when first needed (the other one never is).
        dialect = importlib.import_module(f"sqlalchemy.dialects.{self.engine.dialect.name}")
        rows = [
            {"vuln_id": v, "severity": s.value, "fixable": f, "affected_images": delta}
            for v, info in sorted(vulns.items())
            if info is not None
            for s, f in [info]
        ]
        upsert = dialect.insert(VulnSummaryRow).values(rows)
        session.exec(
            upsert.on_conflict_do_update(
                index_elements=["vuln_id"],
                set_={
                    "affected_images": col(VulnSummaryRow.affected_images) + delta,
                    "severity": upsert.excluded.severity,
                    "fixable": upsert.excluded.fixable,
                },
            )
        )

    def _read(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not read images"))

    def _write(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not record the image"))


_ORDER: dict[ImageSort, tuple[ColumnElement[Any], ...]] = {
    ImageSort.SCANNED: (col(ImageRow.scanned_at).desc(),),
    ImageSort.RISK: tuple(
        col(getattr(ImageRow, s.value)).desc()
        for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
    ),
    ImageSort.REFERENCE: (col(ImageRow.reference).asc(),),
    ImageSort.FIRST_SEEN: (col(ImageRow.first_seen).desc(),),
}


def _conditions(where: ImageFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.repository is not None:
        conditions.append(col(ImageRow.repository) == where.repository)
    if where.registry is not None:
        conditions.append(col(ImageRow.registry_host) == where.registry)
    if where.tag is not None:
        reference = col(ImageRow.reference)
        conditions.append(
            reference.endswith(f":{where.tag}", autoescape=True)
            | reference.contains(f":{where.tag}@", autoescape=True)
        )
    if where.min_severity is not None:
        conditions.append(col(ImageRow.max_severity) >= where.min_severity.rank)
    if where.policy_outcome is not None:
        conditions.append(col(ImageRow.policy_outcome) == where.policy_outcome)
    if where.signed is not None:
        signed = col(ImageRow.signed_by) != ""
        conditions.append(signed if where.signed else ~signed)
    if where.scan_state is not None:
        conditions.append(col(ImageRow.scan_state) == where.scan_state)
    if where.vulnerability is not None:
        holding = select(col(ImageVulnRow.digest)).where(
            col(ImageVulnRow.vuln_id) == where.vulnerability
        )
        conditions.append(col(ImageRow.digest).in_(holding))
    return conditions


def _unavailable(what: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"{what}: the database is not reachable", hint="check TOLLGATE_DATABASE_URL and retry"
    )
