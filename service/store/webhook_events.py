"""Received webhook event ids, so a redelivered event is acted on once."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field, SQLModel, col

from service.errors import StoreUnavailableError
from service.store.database import guarded_session, session_scope


class WebhookEventRow(SQLModel, table=True):
    __tablename__ = "webhook_event"

    source: str = Field(primary_key=True)  # distribution | harbor
    event_id: str = Field(primary_key=True)
    received_at: datetime


class WebhookEventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def first_delivery(self, source: str, event_id: str) -> bool:
        """Record ``event_id``; False when it was received before."""
        try:
            with session_scope(self.engine) as session:
                session.add(
                    WebhookEventRow(source=source, event_id=event_id, received_at=datetime.now(UTC))
                )
        except IntegrityError:
            return False
        except SQLAlchemyError as error:
            raise StoreUnavailableError(
                "could not record the webhook event", hint="the sender will redeliver it"
            ) from error
        return True

    def forget(self, source: str, event_id: str) -> None:
        """Undo :meth:`first_delivery` when acting on the event failed."""
        with guarded_session(self.engine, _unreleased) as session:
            session.exec(
                delete(WebhookEventRow).where(
                    col(WebhookEventRow.source) == source,
                    col(WebhookEventRow.event_id) == event_id,
                )
            )


def _unreleased(_error: SQLAlchemyError) -> StoreUnavailableError:
    return StoreUnavailableError(
        "could not release the webhook event", hint="the sender will redeliver it"
    )
