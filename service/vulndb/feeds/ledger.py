"""What the last import of a CVE feed read from each of its documents, so that the next
import of the same documents costs what changed, not what they hold.

A document whose digest is the one recorded is not read again: its records are reported
unchanged (and its unreadable ones skipped) as recorded. In a document that changed, a
record whose stamp (its modification time as the feed writes it) is the one recorded is
not parsed again: the store already holds that version of it, or a newer one. A ledger
is kept per feed format: when what a feed derives from its records changes, the
feed's ``format`` changes and every document is read again.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec


class DocumentRecords(msgspec.Struct, frozen=True):
    """What one document held when it was read: its digest, the stamp of each record it
    held (None: the feed writes none), and the records it could not use (ref, reason)."""

    digest: str
    records: dict[str, str | None] = {}
    skipped: list[tuple[str, str]] = []


class Ledger:
    """``known``: what the store recorded of each document name under the feed's
    ``format`` (read before the import); ``read``: what this import read, by name
    (written back after it)."""

    def __init__(self, format: int = 0, known: Mapping[str, DocumentRecords] | None = None):
        self.format = format
        self.known: Mapping[str, DocumentRecords] = known or {}
        self.read: dict[str, DocumentRecords] = {}

    def changed(self) -> dict[str, DocumentRecords]:
        """The documents this import read whose record differs from the known one."""
        return {name: read for name, read in self.read.items() if self.known.get(name) != read}


encode = msgspec.json.Encoder().encode
_decoder = msgspec.json.Decoder(DocumentRecords)


def decode(data: str | bytes) -> DocumentRecords:
    return _decoder.decode(data)
