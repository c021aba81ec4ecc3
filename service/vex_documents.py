"""VEX documents sent for every stored image, from the API or the console: a document is
parsed before it is stored (a malformed one is refused, nothing stored), and adding or
deleting one decides every stored image again in the background (the new decisions name
the document as their trigger)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.jobs.dispatch import Dispatcher
from service.store.vex import VexDocument, VexStore
from service.vulndb.vex import parse_vex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class VexDocumentInfo:
    document: VexDocument
    statements: int


def add_document(
    store: VexStore, dispatcher: Dispatcher, name: str, content: str, *, author: str
) -> VexDocumentInfo:
    statements = parse_vex(content, name=name)  # refused here, before it is stored
    document = store.add(name, content, author=author)
    logger.info("%s added VEX document %s (%d statements)", author, name, len(statements))
    dispatcher.redecide(f"VEX document {name} added")
    return VexDocumentInfo(document, len(statements))


def documents(store: VexStore) -> list[VexDocumentInfo]:
    """The documents sent for every image, oldest first, with their statement counts."""
    return [VexDocumentInfo(d, len(parse_vex(d.content, name=d.name))) for d in store.documents()]


def delete_document(
    store: VexStore, dispatcher: Dispatcher, document_id: str, *, author: str
) -> VexDocument:
    document = store.delete(document_id)
    logger.info("%s deleted VEX document %s", author, document.name)
    dispatcher.redecide(f"VEX document {document.name} deleted")
    return document
