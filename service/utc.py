"""Timestamps without a zone are UTC: SQLite drops the zone of every stored time, and
some feeds, image configs and API callers omit it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(moment: datetime) -> datetime: ...


@overload
def as_utc(moment: None) -> None: ...


def as_utc(moment: datetime | None) -> datetime | None:
    """``moment`` with UTC as its zone when it has none; aware times and None unchanged."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
