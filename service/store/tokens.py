"""API tokens, stored only as SHA-256 hashes of high-entropy secrets."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel, col, select

from service.errors import StoreUnavailableError
from service.store.database import guarded_session

logger = logging.getLogger(__name__)


class TokenRow(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(unique=True)
    scopes: str  # space-separated
    name: str
    created_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class StoredToken:
    id: int
    token_hash: str
    scopes: frozenset[str]
    name: str


class TokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, token_hash: str, scopes: frozenset[str], name: str) -> int:
        row = TokenRow(
            token_hash=token_hash,
            scopes=" ".join(sorted(scopes)),
            name=name,
            created_at=datetime.now(UTC),
        )
        with guarded_session(self.engine, _unavailable) as session:
            session.add(row)
            session.flush()
            token_id = row.id
        assert token_id is not None
        logger.info("created API token %d (%s) with scopes %s", token_id, name, row.scopes)
        return token_id

    def find(self, token_hash: str) -> StoredToken | None:
        query = select(TokenRow).where(
            col(TokenRow.token_hash) == token_hash, col(TokenRow.revoked).is_(False)
        )
        with guarded_session(self.engine, _unavailable) as session:
            row = session.exec(query).first()
        if row is None or row.id is None:
            return None
        return StoredToken(row.id, row.token_hash, frozenset(row.scopes.split()), row.name)


def _unavailable(_error: SQLAlchemyError) -> StoreUnavailableError:
    return StoreUnavailableError(
        "the token store is not reachable", hint="check TOLLGATE_DATABASE_URL and retry"
    )
