"""Verdicts from what is stored: the latest recorded decision for a digest, or a fresh
evaluation of the stored scan (catalog + findings) with the admission bundle.

Every read is by digest on an indexed column, so an image with a verdict costs two small
queries (the bundle's latest version and the digest's latest decision).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from policies.decision import Decision
from policies.model import Bundle, ScanState
from policies.subject import EvaluationInput
from service.errors import NotFoundError, PolicyError
from service.gate import PolicyGate
from service.image.model import ImageReference
from service.image.reference import format_reference
from service.store.catalogs import CatalogStore
from service.store.policies import DecisionRecord
from service.store.scans import ScanStatus, ScanStore

logger = logging.getLogger(__name__)

BUNDLE_TTL_S = 1.0  # a newly applied bundle version is used within a second


def _unavailable(what: str) -> PolicyError:
    return PolicyError(
        f"{what}: the database is not reachable",
        hint="check TOLLGATE_DATABASE_URL and that the database is up",
    )


class DecisionLog:
    """Queries over recorded decisions (the audit trail)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def latest(self, digest: str) -> Decision | None:
        query = (
            select(DecisionRecord.results)
            .where(col(DecisionRecord.digest) == digest)
            .order_by(col(DecisionRecord.created_at).desc(), col(DecisionRecord.id).desc())
            .limit(1)
        )
        with self._session("could not read decisions") as session:
            results = session.exec(query).first()
        return Decision.model_validate_json(results) if results is not None else None

    def query(
        self, *, digest: str | None = None, since: datetime | None = None, limit: int = 100
    ) -> list[Decision]:
        """Decisions, newest first, for one digest and/or evaluated at or after ``since``."""
        query = select(DecisionRecord.results)
        if digest is not None:
            query = query.where(col(DecisionRecord.digest) == digest)
        if since is not None:
            query = query.where(col(DecisionRecord.created_at) >= since)
        query = query.order_by(
            col(DecisionRecord.created_at).desc(), col(DecisionRecord.id).desc()
        ).limit(limit)
        with self._session("could not read decisions") as session:
            return [Decision.model_validate_json(row) for row in session.exec(query)]

    @contextmanager
    def _session(self, what: str) -> Iterator[Session]:
        try:
            with Session(self._engine) as session:
                yield session
        except SQLAlchemyError as error:
            raise _unavailable(what) from error


class StoredVerdicts:
    """The admission bundle's verdict on a digest, from stored facts only (no registry)."""

    def __init__(
        self,
        gate: PolicyGate,
        log: DecisionLog,
        catalogs: CatalogStore,
        scans: ScanStore,
        *,
        bundle: str,
        bundle_ttl: float = BUNDLE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._gate = gate
        self._log = log
        self._catalogs = catalogs
        self._scans = scans
        self._bundle = bundle
        self._bundle_ttl = bundle_ttl
        self._clock = clock
        self._cached: tuple[Bundle, float] | None = None

    def decision(self, digest: str, ref: ImageReference) -> Decision | None:
        """The verdict on ``digest``, or None when Tollgate knows nothing about it yet.

        A decision recorded with the current version of the bundle is reused; otherwise
        the stored scan is evaluated (and the decision recorded). A decision made with
        an older bundle version is used only when no scan is stored to evaluate again.
        """
        bundle = self._current_bundle()
        latest = self._log.latest(digest)
        if latest is not None and _current(latest, bundle):
            return latest
        subject = stored_subject(self._catalogs, self._scans, digest, ref)
        if subject is None:
            return latest
        return self._gate.decide(subject, self._bundle)

    def _current_bundle(self) -> Bundle:
        """The bundle's latest version, read again at most every ``bundle_ttl`` seconds."""
        now, cached = self._clock(), self._cached
        if cached is not None and cached[1] > now:
            return cached[0]
        bundle = self._gate.bundle(self._bundle)
        self._cached = (bundle, now + self._bundle_ttl)
        return bundle


def stored_subject(
    catalogs: CatalogStore, scans: ScanStore, digest: str, ref: ImageReference
) -> EvaluationInput | None:
    """The stored scan of ``digest`` as an evaluation input (referenced as ``ref``), or None
    when nothing is stored (never scanned, or its scan is still queued or running)."""
    try:
        catalog = catalogs.get(digest)
        findings = tuple(catalogs.findings(digest))
        state = ScanState.SCANNED
    except NotFoundError:
        scan = scans.latest_for_digest(digest)
        if scan is None or scan.status is not ScanStatus.FAILED:
            return None
        catalog, findings, state = None, (), ScanState.FAILED
    except SQLAlchemyError as error:
        raise _unavailable("could not read the stored scan") from error
    return EvaluationInput(
        reference=format_reference(ref.model_copy(update={"digest": digest})),
        registry=ref.registry or "",
        repository=ref.repository or "",
        tag=ref.tag,
        digest=digest,
        pinned_by_digest=ref.digest is not None,
        scan=state,
        catalog=catalog,
        findings=findings,
    )


def _current(decision: Decision, bundle: Bundle) -> bool:
    return decision.bundle == bundle.name and decision.bundle_version == bundle.version
