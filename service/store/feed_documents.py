"""The ledger of each CVE feed's documents (see :mod:`service.vulndb.feeds.ledger`): one
row per (feed, document name) with what its last import read, under the feed's format."""

from __future__ import annotations

from sqlalchemy import Text, delete, insert
from sqlmodel import Column, Field, Session, SQLModel, col, select

from service.vulndb.feeds import ledger
from service.vulndb.feeds.ledger import Ledger

CHUNK = 500


class FeedDocumentRow(SQLModel, table=True):
    __tablename__ = "vuln_feed_document"

    source: str = Field(primary_key=True)
    name: str = Field(primary_key=True)
    format: int
    records: str = Field(sa_column=Column(Text, nullable=False))  # DocumentRecords JSON


def load_ledger(session: Session, source: str, format: int) -> Ledger:
    """What the imports of ``source`` under ``format`` read, by document name."""
    rows = session.execute(
        select(col(FeedDocumentRow.name), col(FeedDocumentRow.records)).where(
            col(FeedDocumentRow.source) == source, col(FeedDocumentRow.format) == format
        )
    )
    return Ledger(format, {name: ledger.decode(records) for name, records in rows})


def save_ledger(session: Session, source: str, read: Ledger) -> None:
    """Record the documents this import read that differ from what was known."""
    changed = read.changed()
    names = sorted(changed)
    for start in range(0, len(names), CHUNK):
        session.execute(
            delete(FeedDocumentRow).where(
                col(FeedDocumentRow.source) == source,
                col(FeedDocumentRow.name).in_(names[start : start + CHUNK]),
            )
        )
    for start in range(0, len(names), CHUNK):
        session.execute(
            insert(FeedDocumentRow),
            [
                {
                    "source": source,
                    "name": name,
                    "format": read.format,
                    "records": ledger.encode(changed[name]).decode(),
                }
                for name in names[start : start + CHUNK]
            ],
        )
