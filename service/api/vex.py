"""``/api/v1/vex``: VEX documents (OpenVEX 0.2, CycloneDX VEX) applied to every stored image.

Adding or deleting a document decides again on the stored images in the background; the
new decisions name the document as their trigger.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Principal, Scope
from service.vulndb.vex import parse_vex

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/api/v1/vex", tags=["vex"])

Context = Annotated[ServiceContext, Depends(get_context)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class VexDocumentView(BaseModel):
    id: str
    name: str
    author: str
    created_at: datetime
    statements: int


@router.post("", status_code=201, response_model=VexDocumentView)
async def add_document(
    request: Request, context: Context, admin: Admin, name: str = "vex"
) -> VexDocumentView:
    """Store the VEX document in the body (JSON); ``name`` labels it in decisions."""
    content = (await request.body()).decode("utf-8", errors="replace")
    statements = parse_vex(content, name=name)  # refused here, before it is stored
    document = context.vex.add(name, content, author=admin.name)
    logger.info("%s added VEX document %s (%d statements)", admin.name, name, len(statements))
    context.dispatcher.redecide(f"VEX document {name} added")
    return VexDocumentView(
        id=document.id,
        name=document.name,
        author=document.author,
        created_at=document.created_at,
        statements=len(statements),
    )


@router.get("", response_model=list[VexDocumentView], dependencies=[Depends(require(Scope.ADMIN))])
def list_documents(context: Context) -> list[VexDocumentView]:
    return [
        VexDocumentView(
            id=d.id,
            name=d.name,
            author=d.author,
            created_at=d.created_at,
            statements=len(parse_vex(d.content, name=d.name)),
        )
        for d in context.vex.documents()
    ]


@router.get("/{document_id}", dependencies=[Depends(require(Scope.ADMIN))])
def get_document(document_id: str, context: Context) -> Response:
    """The document as it was sent."""
    return Response(context.vex.get(document_id).content, media_type="application/json")


@router.delete("/{document_id}", status_code=204)
def delete_document(document_id: str, context: Context, admin: Admin) -> None:
    document = context.vex.delete(document_id)
    logger.info("%s deleted VEX document %s", admin.name, document.name)
    context.dispatcher.redecide(f"VEX document {document.name} deleted")
