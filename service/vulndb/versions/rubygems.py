"""RubyGems versions, ordered as ``Gem::Version#<=>`` orders them.

Segments are the runs of digits (numbers) and of letters (strings); ``-`` means
``.pre.``. Trailing zeros of the numeric head and of the rest are dropped, a missing
segment counts as 0, and a string segment sorts below any number (``1.a < 1 < 1.1``).
Strings RubyGems' pattern rejects but feeds carry (``1beta``) are read the same way.
"""

from __future__ import annotations

import re
from typing import Any

from service.vulndb.versions.base import ComparedKey, UnparseableVersionError, bounded

_SEGMENTS = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)

Segment = int | str


def _without_trailing_zeros(segments: list[Segment]) -> list[Segment]:
    while segments and segments[-1] == 0:
        segments.pop()
    return segments


class RubyGemsVersion(ComparedKey):
    __slots__ = ("segments",)

    def __init__(self, segments: tuple[Segment, ...]) -> None:
        self.segments = segments

    def compare(self, other: Any) -> int:
        mine, theirs = self.segments, other.segments
        for index in range(max(len(mine), len(theirs))):
            left = mine[index] if index < len(mine) else 0
            right = theirs[index] if index < len(theirs) else 0
            if left == right:
                continue
            if isinstance(left, str) != isinstance(right, str):
                return -1 if isinstance(left, str) else 1
            return -1 if left < right else 1  # type: ignore[operator]
        return 0


def parse(text: str) -> RubyGemsVersion:
    version = bounded(text, "RubyGems").strip().replace("-", ".pre.")
    segments: list[Segment] = [int(s) if s.isdigit() else s for s in _SEGMENTS.findall(version)]
    if not segments or not isinstance(segments[0], int):
        raise UnparseableVersionError(f"RubyGems: {text!r} does not start with a number")
    head = next((i for i, s in enumerate(segments) if isinstance(s, str)), len(segments))
    canonical = _without_trailing_zeros(segments[:head]) + _without_trailing_zeros(segments[head:])
    return RubyGemsVersion(tuple(canonical))
