"""The base of Tollgate's domain models: immutable, and strict about unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FrozenModel(BaseModel):
    """A typed value: frozen (hashable, never mutated) and rejecting fields it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")
