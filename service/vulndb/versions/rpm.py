"""Red Hat family versions, ordered as rpm's ``rpmvercmp`` and ``rpmverCmp`` order them.

``[epoch:]version[-release]``: the epoch is present only when all digits (``a:1`` is a
version without epoch, as rpm parses it), the release follows the last ``-``. Each
part is a sequence of alphabetic and numeric segments; other characters separate.
``~`` sorts before the end of the string, ``^`` after it but before any segment,
letters before numbers, numbers by value.
"""

from __future__ import annotations

import re

from service.vulndb.versions.base import VersionKey, bounded

_TOKENS = re.compile(r"~|\^|[0-9]+|[A-Za-z]+")
_TILDE, _END, _CARET, _ALPHA, _NUMBER = 0, 1, 2, 3, 4


def _segments(part: str) -> tuple[tuple[int, int | str] | tuple[int], ...]:
    tokens: list[tuple[int, int | str] | tuple[int]] = []
    for run in _TOKENS.findall(part):
        if run == "~":
            tokens.append((_TILDE,))
        elif run == "^":
            tokens.append((_CARET,))
        elif run.isdigit():
            tokens.append((_NUMBER, int(run)))
        else:
            tokens.append((_ALPHA, run))
    tokens.append((_END,))
    return tuple(tokens)


def parse(text: str) -> VersionKey:
    """A missing release compares as an empty one (rpm skips the release when either
    side lacks it, which is no total order; osv-scalibr does the same as here)."""
    evr = bounded(text, "rpm").strip()
    epoch = 0
    head, colon, rest = evr.partition(":")
    if colon and head.isascii() and head.isdigit():
        epoch, evr = int(head), rest
    version, _, release = evr.rpartition("-") if "-" in evr else (evr, "", "")
    return (epoch, _segments(version), _segments(release))
