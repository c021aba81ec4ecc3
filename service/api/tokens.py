"""``/api/v1/tokens`` (admin): list, create and revoke API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.context import ServiceContext, get_context, require
from service.auth.tokens import Scope, default_lifetime
from service.errors import NotFoundError

router = APIRouter(
    prefix="/api/v1/tokens", tags=["tokens"], dependencies=[Depends(require(Scope.ADMIN))]
)

Context = Annotated[ServiceContext, Depends(get_context)]


class TokenCreate(BaseModel):
    """``expires_in_seconds``: absent -> the default (90 days in production, else never);
    null -> never."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(min_length=1, max_length=len(Scope))
    expires_in_seconds: int | None = Field(default=None, gt=0)


class TokenView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class TokenCreated(BaseModel):
    id: int
    token: str  # shown this once


@router.get("", response_model=list[TokenView])
def list_tokens(context: Context) -> list[TokenView]:
    return [
        TokenView(**{**vars(info), "scopes": sorted(info.scopes)})
        for info in context.authority.tokens()
    ]


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, context: Context) -> TokenCreated:
    if "expires_in_seconds" in body.model_fields_set:
        lifetime = (
            None if body.expires_in_seconds is None else timedelta(seconds=body.expires_in_seconds)
        )
    else:
        lifetime = default_lifetime(context.settings)
    issued = context.authority.issue(frozenset(body.scopes), body.name, lifetime)
    return TokenCreated(id=issued.id, token=issued.secret)


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: int, context: Context) -> Response:
    if not context.authority.revoke(token_id):
        raise NotFoundError(f"there is no token {token_id}", hint="GET /api/v1/tokens lists them")
    return Response(status_code=204)
