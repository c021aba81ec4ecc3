"""The feed interfaces: advisories, and facts about CVEs read from documents.

A CVE feed reads each document into :class:`Entry` objects (a record's id and stamp,
parsed only when asked), so an import that keeps a :class:`~.ledger.Ledger` parses only
the records that changed since the last import of the same documents."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from service.vulndb.cve import CveFacts
from service.vulndb.feeds.documents import Document, DocumentSource
from service.vulndb.feeds.ledger import DocumentRecords, Ledger
from service.vulndb.records import SkippedRecord, VulnRecord


class Feed(ABC):
    """An advisory source; ``source`` names it in the store (one import replaces its records).

    A ``complete`` feed yields every record of its source on each import, so a stored
    record it no longer yields is gone upstream and is removed; an incomplete one (a
    directory or file of some records) only adds and updates."""

    source: str
    complete: bool = False

    @abstractmethod
    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        """Every record of the feed; malformed ones as SkippedRecord, never an exception."""


@dataclass(frozen=True)
class Entry:
    """One record of a document before it is parsed: its id, its stamp (what changes
    whenever the record does, as the feed writes it: a modification time; None when the
    feed has none) and how to parse it (raises ValueError or ValidationError)."""

    id: str
    stamp: str | None
    parse: Callable[[], CveFacts]


@dataclass(frozen=True)
class Unchanged:
    """A record the last import read as it is now (its document or its stamp unchanged)."""

    id: str


class CveFeed(ABC):
    """A source of facts keyed by CVE id (NVD, CVE records, KEV, EPSS) that enrich every
    advisory aliasing the CVE; ``complete`` as for :class:`Feed`. ``format`` changes
    when what the feed derives from a record does (the ledger of an older one is not
    trusted). ``signals_only``: its facts are exploitation signals (KEV, EPSS), which
    change neither what a package matches nor how a finding is rated."""

    source: str
    complete: bool = False
    format: int = 1
    signals_only: bool = False

    def __init__(self, documents: DocumentSource) -> None:
        self._documents = documents

    @abstractmethod
    def entries(self, document: Document) -> Iterator[Entry | SkippedRecord]:
        """The records of one document; malformed ones as SkippedRecord."""

    def records(
        self, ledger: Ledger | None = None
    ) -> Iterator[CveFacts | Unchanged | SkippedRecord]:
        """Every record of the feed (malformed ones as SkippedRecord, never an exception);
        with a ledger, those it shows unchanged as :class:`Unchanged`, unparsed, and what
        was read is recorded in it."""
        ledger = ledger or Ledger()
        for document in self._documents.documents():
            known = ledger.known.get(document.name)
            if known is not None and known.digest == document.digest:
                ledger.read[document.name] = known
                yield from (Unchanged(record_id) for record_id in known.records)
                yield from (SkippedRecord(ref=ref, reason=why) for ref, why in known.skipped)
                continue
            recorded = known.records if known is not None else {}
            stamps: dict[str, str | None] = {}
            skipped: list[SkippedRecord] = []
            for entry in self.entries(document):
                if isinstance(entry, SkippedRecord):
                    skipped.append(entry)
                    yield entry
                elif entry.stamp is not None and recorded.get(entry.id) == entry.stamp:
                    stamps[entry.id] = entry.stamp
                    yield Unchanged(entry.id)
                elif isinstance(outcome := _parsed(document, entry), SkippedRecord):
                    skipped.append(outcome)
                    yield outcome
                else:
                    stamps[entry.id] = entry.stamp
                    yield outcome
            ledger.read[document.name] = DocumentRecords(
                document.digest, stamps, [(s.ref, s.reason) for s in skipped]
            )


def _parsed(document: Document, entry: Entry) -> CveFacts | SkippedRecord:
    try:
        return entry.parse()
    except (ValueError, ValidationError) as error:
        reason = f"{type(error).__name__}: {error}"[:300]
        return SkippedRecord(ref=f"{document.name}:{entry.id}", reason=reason)


AnyFeed = Feed | CveFeed
