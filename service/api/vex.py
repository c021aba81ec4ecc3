"""``/api/v1/vex``: VEX documents (OpenVEX 0.2, CycloneDX VEX) applied to every stored image.

Adding or deleting a document decides again on the stored images in the background; the
new decisions name the document as their trigger.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict

from service import vex_documents
from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Principal, Scope
from service.vex_documents import VexDocumentInfo

router = APIRouter(prefix="/api/v1/vex", tags=["vex"])

Context = Annotated[ServiceContext, Depends(get_context)]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


class VexDocumentView(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the document's content and digest

    id: str
    name: str
    author: str
    created_at: datetime
    statements: int

    @classmethod
    def of(cls, info: VexDocumentInfo) -> VexDocumentView:
        return cls(**vars(info.document), statements=info.statements)


@router.post("", status_code=201, response_model=VexDocumentView)
async def add_document(
    request: Request, context: Context, admin: Admin, name: str = "vex"
) -> VexDocumentView:
    """Store the VEX document in the body (JSON); ``name`` labels it in decisions."""
    content = (await request.body()).decode("utf-8", errors="replace")
    return VexDocumentView.of(
        vex_documents.add_document(
            context.vex, context.dispatcher, name, content, author=admin.name
        )
    )


@router.get("", response_model=list[VexDocumentView], dependencies=[Depends(require(Scope.ADMIN))])
def list_documents(context: Context) -> list[VexDocumentView]:
    return [VexDocumentView.of(info) for info in vex_documents.documents(context.vex)]


@router.get("/{document_id}", dependencies=[Depends(require(Scope.ADMIN))])
def get_document(document_id: str, context: Context) -> Response:
    """The document as it was sent."""
    return Response(context.vex.get(document_id).content, media_type="application/json")


@router.delete("/{document_id}", status_code=204)
def delete_document(document_id: str, context: Context, admin: Admin) -> None:
    vex_documents.delete_document(context.vex, context.dispatcher, document_id, author=admin.name)
