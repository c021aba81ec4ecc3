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
        Index("ix_image_known_exploited", "known_exploited"),
        Index("ix_image_first_seen", "first_seen"),
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
    known_exploited: int = 0  # vulnerabilities in CISA's KEV catalog
    max_epss: float | None = None  # the highest EPSS score of its vulnerabilities
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
        # covering "the images holding X": no row is read for the digests
        Index("ix_image_vuln_vuln_id_digest", "vuln_id", "digest"),
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
    known_exploited: bool = False
    epss: float | None = None
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
    known_exploited: int
    max_epss: float | None
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
    known_exploited: bool | None = None  # holds a vulnerability in CISA's KEV (or none)


class ImageSort(StrEnum):
    """Orders of an image page; each breaks ties by digest."""

    SCANNED = "scanned"  # most recently scanned first
    RISK = "risk"  # most critical, then high, medium, low findings first
    KEV = "kev"  # most known-exploited vulnerabilities first, then by risk
    EPSS = "epss"  # the highest EPSS score first, then by risk
    REFERENCE = "reference"
    FIRST_SEEN = "first_seen"  # newest first


@dataclass(frozen=True)
class Totals:
    images: int
    findings: dict[str, int]
    fixable: int
    known_exploited: int
    policy: dict[str, int]
    scan_states: dict[str, int]


class VulnOrder(StrEnum):
    """Orders of the most widespread vulnerabilities; each breaks ties by id."""

    AFFECTED = "affected"  # in the most images first
    KEV = "kev"  # known-exploited first, then in the most images
    EPSS = "epss"  # the highest EPSS score first, then in the most images


@dataclass(frozen=True)
class VulnSpread:
    vuln_id: str
    severity: str
    fixable: bool
    affected_images: int
    known_exploited: bool = False
    epss: float | None = None


@dataclass(frozen=True)
class _VulnFacts:
    """One vulnerability of one image: its worst severity, whether any fix exists, and its
    exploitation signals."""

    severity: Severity = Severity.UNKNOWN
    fixable: bool = False
    known_exploited: bool = False
    epss: float | None = None


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
        known_exploited=row.known_exploited,
        max_epss=row.max_epss,
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


def _per_vuln(findings: Iterable[Finding]) -> dict[str, _VulnFacts]:
    """One entry per vulnerability id a VEX statement did not remove."""
    worst: dict[str, _VulnFacts] = {}
    for finding in findings:
        if finding.vex is not None:
            continue
        known = worst.get(finding.id, _VulnFacts())
        scores = (known.epss, finding.epss.score if finding.epss else None)
        epss = [score for score in scores if score is not None]
        worst[finding.id] = _VulnFacts(
            severity=max(known.severity, finding.severity, key=lambda s: s.rank),
            fixable=known.fixable or finding.fix_available,
            known_exploited=known.known_exploited or finding.kev is not None,
            epss=max(epss, default=None),
        )
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
        counts = Counter(facts.severity.value for facts in vulns.values())
        values = {
            "reference": subject.reference,
            "registry_host": subject.registry,
            "repository": subject.repository,
            "platform": subject.platform,
            "scanned_at": now,
            "last_scan_id": scan_id,
            "packages": subject.packages,
            "fixable": sum(1 for facts in vulns.values() if facts.fixable),
            "known_exploited": sum(1 for facts in vulns.values() if facts.known_exploited),
            "max_epss": max((f.epss for f in vulns.values() if f.epss is not None), default=None),
            "max_severity": max((facts.severity.rank for facts in vulns.values()), default=-1),
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
                            "severity": facts.severity.value,
                            "fixable": facts.fixable,
                        }
                        for vuln_id, facts in vulns.items()
                    ],
                )
            self._spread_facts(session, vulns, set(vulns.keys() - old))
            self._spread_gone(session, old - vulns.keys())

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
        """One page of images in ``sort`` order and the total matching, from one
        statement (the total as a window over the same rows): a row committed between
        two queries could otherwise be counted and not listed."""
        conditions = _conditions(where)
        page = (
            select(ImageRow, func.count().over())
            .where(*conditions)
            .order_by(*_ORDER[sort], col(ImageRow.digest))
            .limit(limit)
            .offset(offset)
        )
        with self._read() as session:
            rows = session.exec(page).all()
            if rows:
                return [_summary(row) for row, _ in rows], int(rows[0][1])
            if offset == 0:
                return [], 0
            # past the last page: the count alone (nothing listed to disagree with)
            total = select(func.count()).select_from(ImageRow).where(*conditions)
            return [], int(session.exec(total).one())

    def totals(self) -> Totals:
        sums = [func.coalesce(func.sum(getattr(ImageRow, s.value)), 0) for s in SEVERITIES]
        failed = func.coalesce(
            func.sum(case((col(ImageRow.scan_state) == "failed", 1), else_=0)), 0
        )
        query = sql_select(
            func.count(),
            failed,
            func.coalesce(func.sum(col(ImageRow.fixable)), 0),
            func.coalesce(func.sum(col(ImageRow.known_exploited)), 0),
            *sums,
        )
        policy = select(col(ImageRow.policy_outcome), func.count()).group_by(
            col(ImageRow.policy_outcome)
        )
        with self._read() as session:
            images, failures, fixable, exploited, *per_severity = session.execute(query).one()
            outcomes = {o: int(n) for o, n in session.exec(policy) if o is not None}
        return Totals(
            images=int(images),
            findings={s.value: int(n) for s, n in zip(SEVERITIES, per_severity, strict=True)},
            fixable=int(fixable),
            known_exploited=int(exploited),
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
        return _spread(row)

    def top_vulnerabilities(
        self, limit: int, order: VulnOrder = VulnOrder.AFFECTED
    ) -> list[VulnSpread]:
        affected = col(VulnSummaryRow.affected_images).desc()
        first = {
            VulnOrder.AFFECTED: (),
            VulnOrder.KEV: (col(VulnSummaryRow.known_exploited).desc(),),
            VulnOrder.EPSS: (col(VulnSummaryRow.epss).is_(None), col(VulnSummaryRow.epss).desc()),
        }[order]
        query = (
            select(VulnSummaryRow)
            .where(col(VulnSummaryRow.affected_images) > 0)
            .order_by(*first, affected, col(VulnSummaryRow.vuln_id))
            .limit(limit)
        )
        with self._read() as session:
            return [_spread(r) for r in session.exec(query)]

    def _spread_facts(self, session: Session, vulns: dict[str, _VulnFacts], new: set[str]) -> None:
        """Count the images newly holding ``new``, and keep every vulnerability's severity,
        fix and exploitation signals as this image's findings have them now."""
        if not vulns:
            return
        # The dialect's own upsert, imported when first needed (the other one never is).
        dialect = importlib.import_module(f"sqlalchemy.dialects.{self.engine.dialect.name}")
        rows = [
            {
                "vuln_id": v,
                "severity": facts.severity.value,
                "fixable": facts.fixable,
                "known_exploited": facts.known_exploited,
                "epss": facts.epss,
                "affected_images": int(v in new),
            }
            for v, facts in sorted(vulns.items())
        ]
        upsert = dialect.insert(VulnSummaryRow).values(rows)
        session.exec(
            upsert.on_conflict_do_update(
                index_elements=["vuln_id"],
                set_={
                    "affected_images": col(VulnSummaryRow.affected_images)
                    + upsert.excluded.affected_images,
                    "severity": upsert.excluded.severity,
                    "fixable": upsert.excluded.fixable,
                    "known_exploited": upsert.excluded.known_exploited,
                    "epss": upsert.excluded.epss,
                },
            )
        )

    def _spread_gone(self, session: Session, vuln_ids: set[str]) -> None:
        if vuln_ids:
            session.exec(
                update(VulnSummaryRow)
                .where(col(VulnSummaryRow.vuln_id).in_(sorted(vuln_ids)))
                .values(affected_images=col(VulnSummaryRow.affected_images) - 1)
            )

    def _read(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not read images"))

    def _write(self) -> AbstractContextManager[Session]:
        return guarded_session(self.engine, lambda _: _unavailable("could not record the image"))


_RISK = tuple(
    col(getattr(ImageRow, s.value)).desc()
    for s in (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)
)
_ORDER: dict[ImageSort, tuple[ColumnElement[Any], ...]] = {
    ImageSort.SCANNED: (col(ImageRow.scanned_at).desc(),),
    ImageSort.RISK: _RISK,
    ImageSort.KEV: (col(ImageRow.known_exploited).desc(), *_RISK),
    ImageSort.EPSS: (col(ImageRow.max_epss).is_(None), col(ImageRow.max_epss).desc(), *_RISK),
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
    if where.known_exploited is not None:
        exploited = col(ImageRow.known_exploited) > 0
        conditions.append(exploited if where.known_exploited else ~exploited)
    if where.vulnerability is not None:
        holding = select(col(ImageVulnRow.digest)).where(
            col(ImageVulnRow.vuln_id) == where.vulnerability
        )
        conditions.append(col(ImageRow.digest).in_(holding))
    return conditions


def _spread(row: VulnSummaryRow) -> VulnSpread:
    return VulnSpread(
        row.vuln_id,
        row.severity,
        row.fixable,
        row.affected_images,
        known_exploited=row.known_exploited,
        epss=row.epss,
    )


def _unavailable(what: str) -> StoreUnavailableError:
    return StoreUnavailableError(
        f"{what}: the database is not reachable", hint="check TOLLGATE_DATABASE_URL and retry"
    )
