"""Alpine versions, ordered as apk-tools' ``apk_version_compare`` orders them.

``digits{.digits}{letter}{_suffix{digits}}…{~hash}{-r#}``. Both versions are read
token by token; at the first position where the token kinds differ, a pre-release
suffix (``_alpha``, ``_beta``, ``_pre``, ``_rc``) sorts lowest, otherwise the kind
that comes later in the grammar sorts lower (``1.0 < 1.0.1``, ``1.0-r1 < 1.0_p1``).
A digit run after the first compares as text when either side has a leading zero
(Gentoo's rule: ``8.2.0 < 8.2.001``).

An invalid token sorts below every valid one and ends the comparison, as in apk.
One deliberate deviation: a number right after a letter (``5.7.1p1-r0``, invalid for
apk but real secdb data, where apk would call ``5.7.1p1-r0`` and ``5.7.1p2-r1`` equal)
is read as an invalid-ranked number and the version read on, so such versions order
as osv-scanner orders them: ``5.7.1p1-r0 < 5.7.1p1-r1 < 5.7.1p2-r0``.
"""

from __future__ import annotations

import re

from service.vulndb.versions.base import UnparseableVersionError, VersionKey, bounded

_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _END, _INVALID = range(9)
_SUFFIXES = ("alpha", "beta", "pre", "rc", "", "cvs", "svn", "git", "hg", "p")
_RELEASE = _SUFFIXES.index("")
_PRE_RELEASE_RANK = -100  # below every token kind, as apk ranks pre-release suffixes

_DIGITS = re.compile(r"[0-9]*")
_SUFFIX_CHARS = re.compile(r"[a-z]*")
_HEX = re.compile(r"[0-9a-f]*")

Value = int | str | tuple[int, int | str]
Token = tuple[int] | tuple[int, Value]


def _run(pattern: re.Pattern[str], text: str, at: int) -> tuple[str, int]:
    found = pattern.match(text, at)
    assert found is not None  # every pattern here matches the empty string
    return found.group(), found.end()


def _next(text: str, at: int, previous: int) -> tuple[int, Value | None, int]:  # noqa: PLR0911
    """(kind, value, position after) of the token at ``at`` following a ``previous`` kind;
    ``(_INVALID, None, …)`` ends the version, ``(_INVALID, number, …)`` is the deviation."""
    char = text[at]
    if "a" <= char <= "z" and previous <= _DIGIT:
        return _LETTER, ord(char), at + 1
    if char == "." and previous <= _DIGIT:
        digits, end = _run(_DIGITS, text, at + 1)
        if digits:  # a leading zero: text order, below every number without one
            return _DIGIT, (0, digits) if digits[0] == "0" else (1, int(digits)), end
    elif "0" <= char <= "9" and previous in (_SUFFIX, _LETTER):
        digits, end = _run(_DIGITS, text, at)
        return (_SUFFIX_NO if previous == _SUFFIX else _INVALID), int(digits), end
    elif char == "_" and previous <= _SUFFIX_NO:
        suffix, end = _run(_SUFFIX_CHARS, text, at + 1)
        if suffix and suffix in _SUFFIXES:
            return _SUFFIX, _SUFFIXES.index(suffix), end
    elif char == "~" and previous < _HASH:
        commit, end = _run(_HEX, text, at + 1)
        if commit:
            return _HASH, commit, end
    elif char == "-" and previous < _REVISION and text.startswith("-r", at):
        digits, end = _run(_DIGITS, text, at + 2)
        if digits:
            return _REVISION, int(digits), end
    return _INVALID, None, len(text)


def _token(kind: int, value: Value | None) -> Token:
    if value is None:
        return (-kind,)
    if kind == _SUFFIX:
        assert isinstance(value, int)
        return (_PRE_RELEASE_RANK if value < _RELEASE else -_SUFFIX, value)
    return (-kind, value)


def parse(text: str) -> VersionKey:
    version = bounded(text, "apk")
    digits, at = _run(_DIGITS, version, 0)
    if not digits:
        raise UnparseableVersionError(f"apk: {text!r} does not start with a number")
    tokens: list[Token] = [(-_INITIAL, int(digits))]
    kind = _INITIAL
    while at < len(version):
        kind, value, at = _next(version, at, kind)
        tokens.append(_token(kind, value))
        if kind == _INVALID:
            if value is None:
                return tuple(tokens)
            kind = _SUFFIX_NO  # read on after a letter's number, as after a suffix's
    tokens.append((-_END,))
    return tuple(tokens)
