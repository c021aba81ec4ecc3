"""Maven versions, ordered as Maven's ``ComparableVersion`` (Maven 4, with MNG-7644) orders them.

A version is a list of items split at ``.`` and ``-`` and at digit/letter changes; a
``-`` (or a digit/letter change) opens a sub-list. Items are numbers, qualifiers and
qualifier+number combinations (``rc1``, ``alpha-2``). Qualifiers order as
``alpha < beta < milestone < rc = cr < snapshot < "" = ga = final = release < sp``,
then unknown ones alphabetically; numbers sort above qualifiers; trailing zeros and
empty qualifiers are dropped (``1.0.0 = 1``, ``4.1.0.RELEASE`` orders as ``4.1.0``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

from service.vulndb.versions.base import ComparedKey, UnparseableVersionError, bounded

_QUALIFIERS = ("alpha", "beta", "milestone", "rc", "snapshot", "", "sp")
_RELEASE_QUALIFIERS = ("ga", "final", "release")
_RELEASE_RANK = str(_QUALIFIERS.index(""))
_SHORT = {"a": "alpha", "b": "beta", "m": "milestone"}


@dataclass(frozen=True, slots=True)
class _Combination:
    """A qualifier directly followed by a number (``rc1``, ``alpha-2``)."""

    qualifier: str
    number: int


Item: TypeAlias = "int | str | _Combination | list[Item]"  # number, qualifier, combination, list


def _qualifier(text: str, followed_by_digit: bool) -> str:
    if followed_by_digit and len(text) == 1:
        text = _SHORT.get(text, text)
    return "rc" if text == "cr" else text


def _qualifier_rank(qualifier: str) -> str:
    if qualifier in _RELEASE_QUALIFIERS:
        return _RELEASE_RANK
    if qualifier in _QUALIFIERS:
        return str(_QUALIFIERS.index(qualifier))
    return f"{len(_QUALIFIERS)}-{qualifier}"


def _sign(a: int | str, b: int | str) -> int:
    return int(a > b) - int(a < b)  # type: ignore[operator]  # both of one type


def _compare(item: Item, other: Item | None) -> int:  # noqa: PLR0911 - one case per item kind
    if isinstance(item, int):
        if other is None:
            return 0 if item == 0 else 1
        return _sign(item, other) if isinstance(other, int) else 1
    if isinstance(item, str):
        if other is None:
            return _sign(_qualifier_rank(item), _RELEASE_RANK)
        if isinstance(other, str):
            return _sign(_qualifier_rank(item), _qualifier_rank(other))
        if isinstance(other, _Combination):
            return _compare(item, other.qualifier) or -1
        return -1
    if isinstance(item, _Combination):
        if other is None:
            return _compare(item.qualifier, None)
        if isinstance(other, str):
            return _compare(item.qualifier, other) or 1
        if isinstance(other, _Combination):
            return _compare(item.qualifier, other.qualifier) or _sign(item.number, other.number)
        return -1
    return _compare_list(item, other)


def _compare_list(items: list[Item], other: Item | None) -> int:
    if other is None:
        return next((r for i in items if (r := _compare(i, None))), 0)
    if isinstance(other, int):
        return -1
    if not isinstance(other, list):
        return 1
    for index in range(max(len(items), len(other))):
        left = items[index] if index < len(items) else None
        right = other[index] if index < len(other) else None
        if left is None:
            result = 0 if right is None else -_compare(right, None)
        else:
            result = _compare(left, right)
        if result:
            return result
    return 0


def _is_null(item: Item) -> bool:
    return not isinstance(item, _Combination) and not item


def _normalize(items: list[Item]) -> None:
    for index in range(len(items) - 1, -1, -1):
        if not _is_null(items[index]):
            continue
        following = items[index + 1] if index + 1 < len(items) else None
        if following is None or isinstance(following, str):
            del items[index]
        elif isinstance(following, list):
            if not following:
                raise UnparseableVersionError("Maven: empty sub-list")
            if isinstance(following[0], (str, _Combination)):
                del items[index]


def _item(combination: bool, digits: bool, text: str) -> Item:
    if combination:
        text = text.replace("-", "")
        split = next((i for i, c in enumerate(text) if "0" <= c <= "9"), 0)
        number = text[split:]
        if not number.isascii() or not number.isdigit():
            raise UnparseableVersionError(f"Maven: {text!r} is no qualifier and number")
        return _Combination(_qualifier(text[:split], True), int(number))
    if digits:
        return int(text)
    return _qualifier(text, False)


def _parse_items(version: str) -> list[Item]:  # noqa: PLR0912 - Maven's parser, case by case
    root: list[Item] = []
    current, stack = root, [root]
    digits = combination = False
    start = 0

    def open_list() -> list[Item]:
        nested: list[Item] = []
        current.append(nested)
        stack.append(nested)
        return nested

    for index, char in enumerate(version):
        if char == ".":
            current.append(
                0 if index == start else _item(combination, digits, version[start:index])
            )
            combination = False
            start = index + 1
        elif char == "-":
            if index == start:
                current.append(0)
            else:
                if not digits and index != len(version) - 1 and version[index + 1].isdigit():
                    combination = True
                    continue
                current.append(_item(combination, digits, version[start:index]))
            start = index + 1
            if current:
                current = open_list()
            combination = False
        elif "0" <= char <= "9":
            if not digits and index > start:
                combination = True
                if current:
                    current = open_list()
            digits = True
        else:
            if digits and index > start:
                current.append(_item(combination, True, version[start:index]))
                start = index
                current = open_list()
                combination = False
            digits = False
    if len(version) > start:
        if not digits and current:
            current = open_list()
        current.append(_item(combination, digits, version[start:]))
    for items in reversed(stack):
        _normalize(items)
    return root


class MavenVersion(ComparedKey):
    __slots__ = ("items",)

    def __init__(self, items: list[Item]) -> None:
        self.items = items

    def compare(self, other: Any) -> int:
        return _compare_list(self.items, other.items)


def parse(text: str) -> MavenVersion:
    version = bounded(text, "Maven").strip()
    if not version:
        raise UnparseableVersionError("Maven: empty version")
    try:
        return MavenVersion(_parse_items(version.lower()))
    except ValueError as error:  # a digit run Maven's own parser would fail on too
        raise UnparseableVersionError(f"Maven: {text!r}: {error}") from error
