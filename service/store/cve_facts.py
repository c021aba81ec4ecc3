"""Facts about CVEs in SQL (NVD's and the CVE record's CVSS, KEV, EPSS), one row per
(feed, CVE), and which stored advisories name each CVE (their id or an alias).

The facts are applied when findings are built (see :mod:`service.vulndb.matcher`), so a
new import of them changes the findings of stored images on the next re-match: an import
logs, as changed, the packages of every advisory naming a CVE whose facts it changed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Index, Text, delete, insert
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.vulndb.cve import CveFacts
from service.vulndb.model import PackageKey
from service.vulndb.records import Advisory

CHUNK = 500


class CveFactRow(SQLModel, table=True):
    __tablename__ = "vuln_cve_fact"

    source: str = Field(primary_key=True)  # nvd, cve, kev, epss
    cve_id: str = Field(primary_key=True)
    modified: datetime | None = None
    digest: str
    payload: str = Field(sa_column=Column(Text, nullable=False))


class AdvisoryCveRow(SQLModel, table=True):
    """A CVE an advisory row names, kept with the advisory's record."""

    __tablename__ = "vuln_advisory_cve"
    __table_args__ = (
        Index("ix_vuln_advisory_cve_cve", "cve_id"),
        Index("ix_vuln_advisory_cve_record", "source", "record_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    source: str
    record_id: str
    cve_id: str
    ecosystem: str
    package: str


def cve_ids(advisory: Advisory) -> set[str]:
    return {name for name in (advisory.id, *advisory.aliases) if name.startswith("CVE-")}


def advisory_cve_rows(
    source: str, record_id: str, advisories: Iterable[Advisory]
) -> list[dict[str, str]]:
    return [
        {
            "source": source,
            "record_id": record_id,
            "cve_id": cve,
            "ecosystem": a.ecosystem,
            "package": a.package,
        }
        for a in advisories
        for cve in sorted(cve_ids(a))
    ]


def write_facts(
    session: Session, source: str, facts: Sequence[CveFacts], replace: Sequence[str]
) -> set[PackageKey]:
    """Replace the facts ``replace`` names and insert ``facts``; the keys of every
    advisory naming one of those CVEs."""
    for start in range(0, len(replace), CHUNK):
        ids = replace[start : start + CHUNK]
        session.execute(
            delete(CveFactRow).where(
                col(CveFactRow.source) == source, col(CveFactRow.cve_id).in_(ids)
            )
        )
    for start in range(0, len(facts), CHUNK):
        session.execute(
            insert(CveFactRow),
            [
                {
                    "source": source,
                    "cve_id": f.id,
                    "modified": f.modified,
                    "digest": f.digest,
                    "payload": f.model_dump_json(exclude_defaults=True),
                }
                for f in facts[start : start + CHUNK]
            ],
        )
    return packages_naming(session, sorted({*replace, *(f.id for f in facts)}))


def packages_naming(session: Session, cves: Sequence[str]) -> set[PackageKey]:
    """The (ecosystem, package) keys of the advisories naming any of ``cves``."""
    keys: set[PackageKey] = set()
    for start in range(0, len(cves), CHUNK):
        keys.update(
            (ecosystem, package)
            for ecosystem, package in session.execute(
                select(col(AdvisoryCveRow.ecosystem), col(AdvisoryCveRow.package))
                .where(col(AdvisoryCveRow.cve_id).in_(cves[start : start + CHUNK]))
                .distinct()
            )
        )
    return keys


def load_facts(session: Session, cves: Collection[str]) -> dict[str, CveFacts]:
    """What every feed says about each of ``cves`` (those no feed holds are left out)."""
    found: dict[str, CveFacts] = {}
    ordered = sorted(cves)
    for start in range(0, len(ordered), CHUNK):
        rows = session.execute(
            select(col(CveFactRow.cve_id), col(CveFactRow.payload))
            .where(col(CveFactRow.cve_id).in_(ordered[start : start + CHUNK]))
            .order_by(col(CveFactRow.source))
        )
        for cve, payload in rows:
            known = found.get(cve) or CveFacts(id=cve)
            found[cve] = known.merged(CveFacts.model_validate_json(payload))
    return found
