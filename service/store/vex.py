"""VEX documents the service applies: those sent to ``/api/v1/vex`` (to every stored image
they name) and those attested on one image by a trusted signer (to that image only).

Documents are kept as their JSON text, parsed by :mod:`service.vulndb.vex` when read:
the store keeps what the author sent, nothing computed from it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Text, delete, or_
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.errors import NotFoundError, StoreUnavailableError
from service.store.database import guarded_session
from service.utc import as_utc


class VexDocumentRow(SQLModel, table=True):
    __tablename__ = "vex_document"

    id: str = Field(primary_key=True)
    name: str
    author: str
    digest: str | None = Field(default=None, index=True)  # attested on this image only
    created_at: datetime
    content: str = Field(sa_column=Column(Text, nullable=False))


@dataclass(frozen=True)
class VexDocument:
    id: str
    name: str
    author: str
    created_at: datetime
    content: str
    digest: str | None = None  # the image it was attested on; None: every image it names


def _document(row: VexDocumentRow) -> VexDocument:
    created = as_utc(row.created_at)
    return VexDocument(row.id, row.name, row.author, created, row.content, row.digest)


class VexStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, name: str, content: str, *, author: str) -> VexDocument:
        """A document for every stored image it names."""
        row = _row(name, content, author, None)
        with self._session() as session:
            session.add(row)
            document = _document(row)
        return document

    def attest(self, digest: str, contents: Sequence[str], *, author: str) -> None:
        """Replace the documents attested on ``digest`` (verified when it was scanned)."""
        with self._session() as session:
            session.exec(delete(VexDocumentRow).where(col(VexDocumentRow.digest) == digest))
            for content in contents:
                session.add(_row(f"attestation on {digest}", content, author, digest))

    def documents(self, digest: str | None = None) -> list[VexDocument]:
        """The documents sent for every image, plus those attested on ``digest``, oldest
        first (later statements supersede earlier ones)."""
        scope: ColumnElement[bool] = col(VexDocumentRow.digest).is_(None)
        if digest is not None:
            scope = or_(scope, col(VexDocumentRow.digest) == digest)
        query = (
            select(VexDocumentRow)
            .where(scope)
            .order_by(col(VexDocumentRow.created_at), col(VexDocumentRow.id))
        )
        with self._session() as session:
            return [_document(row) for row in session.exec(query)]

    def get(self, document_id: str) -> VexDocument:
        with self._session() as session:
            row = session.get(VexDocumentRow, document_id)
            if row is None:
                raise _missing(document_id)
            return _document(row)

    def delete(self, document_id: str) -> VexDocument:
        with self._session() as session:
            row = session.get(VexDocumentRow, document_id)
            if row is None:
                raise _missing(document_id)
            document = _document(row)
            session.delete(row)
        return document

    def _session(self) -> AbstractContextManager[Session]:
        return guarded_session(
            self.engine,
            lambda _: StoreUnavailableError(
                "could not read or write VEX documents: the database is not reachable",
                hint="check TOLLGATE_DATABASE_URL and retry",
            ),
        )


def _row(name: str, content: str, author: str, digest: str | None) -> VexDocumentRow:
    return VexDocumentRow(
        id=uuid.uuid4().hex,
        name=name,
        author=author,
        digest=digest,
        created_at=datetime.now(UTC),
        content=content,
    )


def _missing(document_id: str) -> NotFoundError:
    return NotFoundError(f"no VEX document {document_id!r}", hint="list them with GET /api/v1/vex")
