"""API tokens, stored only as SHA-256 hashes of high-entropy secrets.

A token's term (when it expires, when it was last used) lives in ``api_token_term``, one
row per token created since that table exists; a token without one never expires.
"""

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


class TokenTermRow(SQLModel, table=True):
    __tablename__ = "api_token_term"

    token_id: int = Field(primary_key=True, foreign_key="api_token.id")
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


@dataclass(frozen=True)
class StoredToken:
    id: int
    token_hash: str
    scopes: frozenset[str]
    name: str
    expires_at: datetime | None = None


@dataclass(frozen=True)
class TokenInfo:
    """What ``tollgate token list`` and ``GET /api/v1/tokens`` show (never the hash)."""

    id: int
    name: str
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class TokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        token_hash: str,
        scopes: frozenset[str],
        name: str,
        expires_at: datetime | None = None,
    ) -> int:
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
            session.add(TokenTermRow(token_id=token_id, expires_at=expires_at))
        logger.info("created API token %d (%s) with scopes %s", token_id, name, row.scopes)
        return token_id

    def find(self, token_hash: str) -> StoredToken | None:
        """The unrevoked token with this hash (expired ones included: the caller judges)."""
        query = (
            select(TokenRow, TokenTermRow)
            .join(TokenTermRow, isouter=True)
            .where(col(TokenRow.token_hash) == token_hash, col(TokenRow.revoked).is_(False))
        )
        with guarded_session(self.engine, _unavailable) as session:
            found = session.exec(query).first()
        if found is None or found[0].id is None:
            return None
        row, term = found
        assert row.id is not None
        expires_at, _ = _term_times(term)
        return StoredToken(
            row.id, row.token_hash, frozenset(row.scopes.split()), row.name, expires_at
        )

    def touch(self, token_id: int, when: datetime) -> None:
        """Records that the token was used at ``when``."""
        with guarded_session(self.engine, _unavailable) as session:
            term = session.get(TokenTermRow, token_id)
            if term is None:  # a token from before terms were kept
                term = TokenTermRow(token_id=token_id)
            term.last_used_at = when
            session.add(term)

    def list(self) -> list[TokenInfo]:
        """Every token, revoked ones too, oldest first."""
        query = (
            select(TokenRow, TokenTermRow)
            .join(TokenTermRow, isouter=True)
            .order_by(col(TokenRow.id))
        )
        with guarded_session(self.engine, _unavailable) as session:
            rows = session.exec(query).all()
        return [
            TokenInfo(
                id=row.id or 0,
                name=row.name,
                scopes=frozenset(row.scopes.split()),
                created_at=row.created_at,
                expires_at=_term_times(term)[0],
                last_used_at=_term_times(term)[1],
                revoked=row.revoked,
            )
            for row, term in rows
        ]

    def revoke(self, token_id: int) -> bool:
        """Revokes the token; False when there is no token with this id."""
        with guarded_session(self.engine, _unavailable) as session:
            row = session.get(TokenRow, token_id)
            if row is None:
                return False
            row.revoked = True
            session.add(row)
        logger.info("revoked API token %d (%s)", token_id, row.name)
        return True


def _term_times(term: TokenTermRow | None) -> tuple[datetime | None, datetime | None]:
    """(expires_at, last_used_at) of a token's term row, if it has one."""
    return (None, None) if term is None else (term.expires_at, term.last_used_at)


def _unavailable(_error: SQLAlchemyError) -> StoreUnavailableError:
    return StoreUnavailableError(
        "the token store is not reachable", hint="check TOLLGATE_DATABASE_URL and retry"
    )
