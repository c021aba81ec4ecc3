"""Stored policy bundles (every applied version is kept) and the decisions made with them.

``apply`` stores a new version of a bundle and never rewrites an old one, so a decision
(which names bundle, version and policy) can always be explained with the exact rules
that produced it.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint, delete, func
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Column, Field, Session, SQLModel, col, select
from sqlmodel.sql.expression import SelectOfScalar

from policies.decision import Decision
from policies.model import Bundle
from service.errors import NotFoundError, PolicyConflictError, PolicyError
from service.store.database import guarded_session, session_scope

logger = logging.getLogger(__name__)


class PolicyRecord(SQLModel, table=True):
    __tablename__ = "policy_version"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_policy_version_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True)
    version: int
    created_at: datetime
    author: str
    document: str = Field(sa_column=Column(Text, nullable=False))  # Bundle JSON


class DecisionRecord(SQLModel, table=True):
    __tablename__ = "policy_decision"
    __table_args__ = (
        Index("ix_policy_decision_digest", "digest"),
        # covers the daily counts by outcome (no decision document is read)
        Index("ix_policy_decision_created_at_outcome", "created_at", "outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    digest: str
    reference: str
    bundle: str | None
    bundle_version: int | None
    policy: str
    outcome: str
    created_at: datetime  # the evaluation time
    results: str = Field(sa_column=Column(Text, nullable=False))  # Decision JSON


@dataclass(frozen=True)
class PolicyVersion:
    name: str
    version: int
    created_at: datetime
    author: str


class PolicyStore:
    """Bundles and decisions in the Tollgate database (``service.store.database``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def apply(self, bundle: Bundle, *, author: str, now: datetime) -> Bundle:
        """Store ``bundle`` as the next version of its name; returns it with that version."""
        try:
            with session_scope(self._engine) as session:
                current = session.exec(
                    select(func.max(PolicyRecord.version)).where(
                        col(PolicyRecord.name) == bundle.name
                    )
                ).one()
                version = (current or 0) + 1
                stored = bundle.model_copy(update={"version": version})
                session.add(
                    PolicyRecord(
                        name=stored.name,
                        version=version,
                        created_at=now,
                        author=author,
                        document=stored.model_dump_json(),
                    )
                )
        except IntegrityError as error:
            raise PolicyConflictError(
                f"policy {bundle.name!r} was applied concurrently", hint="apply it again"
            ) from error
        except SQLAlchemyError as error:
            raise _unavailable(error) from error
        logger.info("stored policy bundle %s version %s by %s", stored.name, stored.version, author)
        return stored

    def get(self, name: str, version: int | None = None) -> Bundle:
        """The bundle ``name`` at ``version`` (latest when None)."""
        query = select(PolicyRecord.document).where(col(PolicyRecord.name) == name)
        query = (
            query.where(col(PolicyRecord.version) == version)
            if version is not None
            else query.order_by(col(PolicyRecord.version).desc()).limit(1)
        )
        with self._session() as session:
            document = session.exec(query).first()
        if document is None:
            which = f"version {version} of " if version is not None else ""
            raise NotFoundError(
                f"no {which}policy {name!r} is stored",
                hint="list them with `tollgate policy list`, add one with `tollgate policy apply`",
            )
        return Bundle.model_validate_json(document)

    def latest_version(self, name: str) -> int | None:
        """The newest version number of bundle ``name`` (None when none is stored)."""
        query = select(func.max(PolicyRecord.version)).where(col(PolicyRecord.name) == name)
        with self._session() as session:
            return session.exec(query).one()

    def delete(self, name: str) -> int:
        """Delete every version of bundle ``name``; returns how many. Recorded decisions stay
        (they name the bundle and version they were made with)."""
        with self._session() as session:
            deleted = session.exec(
                delete(PolicyRecord).where(col(PolicyRecord.name) == name)
            ).rowcount
        if not deleted:
            raise NotFoundError(
                f"no policy {name!r} is stored",
                hint="list them with `tollgate policy list` or GET /api/v1/policies",
            )
        return int(deleted)

    def versions(self) -> list[PolicyVersion]:
        """Every stored version, by name then version."""
        query = select(
            PolicyRecord.name, PolicyRecord.version, PolicyRecord.created_at, PolicyRecord.author
        ).order_by(col(PolicyRecord.name), col(PolicyRecord.version))
        with self._session() as session:
            return [PolicyVersion(*row) for row in session.exec(query)]

    def record(self, decision: Decision) -> None:
        with self._session() as session:
            session.add(
                DecisionRecord(
                    digest=decision.digest,
                    reference=decision.image,
                    bundle=decision.bundle,
                    bundle_version=decision.bundle_version,
                    policy=decision.policy,
                    outcome=decision.outcome.value,
                    created_at=decision.evaluated_at,
                    results=decision.model_dump_json(),
                )
            )

    def decisions(self, digest: str) -> list[Decision]:
        """Every decision recorded for ``digest``, oldest first."""
        query = (
            select(DecisionRecord.results)
            .where(col(DecisionRecord.digest) == digest)
            .order_by(col(DecisionRecord.created_at), col(DecisionRecord.id))
        )
        with self._session() as session:
            return [Decision.model_validate_json(row) for row in session.exec(query)]

    def latest_decision(
        self, digest: str, *, bundle: str | None = None, version: int | None = None
    ) -> Decision | None:
        """The newest decision for ``digest`` (made with ``bundle`` at ``version``, when
        given); by the indexed digest column."""
        query = select(DecisionRecord.results).where(col(DecisionRecord.digest) == digest)
        if bundle is not None:
            query = query.where(col(DecisionRecord.bundle) == bundle)
        if version is not None:
            query = query.where(col(DecisionRecord.bundle_version) == version)
        rows = self._decision_rows(query.limit(1))
        return rows[0] if rows else None

    def query_decisions(
        self, *, digest: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[Decision]:
        """Decisions, newest first, for one digest and/or evaluated at or after ``since``."""
        query = select(DecisionRecord.results)
        if digest is not None:
            query = query.where(col(DecisionRecord.digest) == digest)
        if since is not None:
            query = query.where(col(DecisionRecord.created_at) >= since)
        return self._decision_rows(query.limit(limit))

    def daily_outcomes(self, since: datetime) -> dict[str, dict[str, int]]:
        """Decisions recorded at or after ``since``: ISO day -> outcome -> count."""
        day = func.date(col(DecisionRecord.created_at))
        query = (
            select(day, col(DecisionRecord.outcome), func.count())
            .where(col(DecisionRecord.created_at) >= since)
            .group_by(day, col(DecisionRecord.outcome))
        )
        counts: dict[str, dict[str, int]] = {}
        with self._session() as session:
            for when, outcome, n in session.exec(query):
                counts.setdefault(str(when), {})[outcome] = int(n)
        return counts

    def last_decision_id(self) -> int:
        """The id of the newest recorded decision (0 when none): a cheap change marker."""
        with self._session() as session:
            return session.exec(select(func.max(DecisionRecord.id))).one() or 0

    def digests_decided(self, after: int, upto: int) -> set[str]:
        """Digests with a decision whose id is in ``(after, upto]``."""
        query = select(DecisionRecord.digest).where(
            col(DecisionRecord.id) > after, col(DecisionRecord.id) <= upto
        )
        with self._session() as session:
            return set(session.exec(query))

    def _session(self) -> AbstractContextManager[Session]:
        return guarded_session(self._engine, _unavailable)

    def _decision_rows(self, query: SelectOfScalar[str]) -> list[Decision]:
        newest_first = query.order_by(
            col(DecisionRecord.created_at).desc(), col(DecisionRecord.id).desc()
        )
        with self._session() as session:
            return [Decision.model_validate_json(row) for row in session.exec(newest_first)]


def _unavailable(error: SQLAlchemyError) -> PolicyError:
    return PolicyError(
        f"the policy store failed: {type(error).__name__}",
        hint="check TOLLGATE_DATABASE_URL and that the database is reachable",
    )
