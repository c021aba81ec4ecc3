"""What every version scheme shares: the key contract, the one error, the input guard."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

MAX_VERSION_LENGTH = 256
"""Longer strings are refused unread: no real version is this long, and every scheme then
works on bounded input (no huge integers, no slow paths on crafted 100 kB strings)."""


class VersionKey(Protocol):
    """A parsed version; keys of one scheme are totally ordered by ``<``."""

    def __lt__(self, other: Any, /) -> bool: ...


class UnparseableVersionError(ValueError):
    """A version string the ecosystem's scheme cannot order (the package is not evaluated)."""


def bounded(text: str, scheme: str) -> str:
    """``text`` when it may be parsed at all; raise for oversized or non-string input."""
    if not isinstance(text, str):
        raise UnparseableVersionError(f"{scheme}: version is not a string: {text!r}")
    if len(text) > MAX_VERSION_LENGTH:
        raise UnparseableVersionError(
            f"{scheme}: version of {len(text)} characters (more than {MAX_VERSION_LENGTH})"
        )
    return text


class ComparedKey(ABC):
    """A key ordered by a three-way comparison, for schemes whose order is no tuple order
    (Maven's nested lists, RubyGems' zero padding). Equal means "compares equal"."""

    __slots__ = ()

    @abstractmethod
    def compare(self, other: Any) -> int:
        """Negative, zero or positive as ``self`` sorts before, with or after ``other``."""

    def __lt__(self, other: Any) -> bool:
        return self.compare(other) < 0

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.compare(other) == 0

    __hash__ = None  # type: ignore[assignment]
