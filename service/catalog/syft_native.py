"""What the readers that stand in for Syft share: the release they follow, the signal
that a file is not plain, Go's view of a JSON object and of spaces, and Syft's license
mapping.

:mod:`service.catalog.syft_npm`, :mod:`service.catalog.syft_python` and
:mod:`service.catalog.syft_ruby` give the packages Syft 1.18.1 reports for files they can
read exactly as Syft does (github.com/anchore/syft, tag v1.18.1, Apache-2.0), and leave
anything else to Syft. Syft decodes JSON with Go's
decoder and maps a declared license through its SPDX lookup; the parts of both that the
readers rely on are here, each shape checked against Syft by the parity tests.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from service.catalog.model import Package

logger = logging.getLogger(__name__)

SYFT_VERSION = "1.18.1"

# The readers read a file up to this size: a larger one is left to Syft.
MAX_FILE = 1 << 20
# Syft's line scanners (bufio.Scanner) stop, silently or not, at 64 KiB: a file with a
# line near that is left to Syft.
SCANNER_LINE = 60_000

# A version the readers accept as Syft prints it and as a purl carries it unchanged.
PLAIN_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*")

# SPDX identifiers Syft maps to themselves (written in any case, with or without dashes);
# each is checked against Syft by the parity tests.
LICENSES = (
    "0BSD", "AGPL-3.0-only", "Apache-2.0", "Artistic-2.0", "BlueOak-1.0.0", "BSD-2-Clause",
    "BSD-3-Clause", "CC-BY-3.0", "CC-BY-4.0", "CC0-1.0", "EPL-2.0", "GPL-2.0-only",
    "GPL-3.0-only", "ISC", "LGPL-3.0-only", "MIT", "MIT-0", "MPL-2.0", "Python-2.0", "Ruby",
    "Unlicense", "WTFPL", "Zlib",
)  # fmt: skip
# Declared licenses that Syft keeps as written (no SPDX identifier, no valid expression);
# each is checked against Syft by the parity tests.
FREE_TEXT_LICENSES = (
    "Apache 2.0", "Apache License 2.0", "Apache License, Version 2.0",
    "Apache Software License", "BSD", "BSD License", "3-Clause BSD License",
    "BSD 3-Clause License", "new BSD License", "MIT License", "PSF", "PSF License",
    "Python Software Foundation License", "Dual License", "Public Domain", "UNKNOWN",
    "BSDL", "PSFL",
)  # fmt: skip
# Go's unicode.IsSpace, which strings.TrimSpace trims.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
_LICENSE_IDS = {identifier.lower().replace("-", ""): identifier for identifier in LICENSES}
_EXPRESSION_TOKEN = re.compile(r"\(|\)|[^\s()]+")
_Source = TypeVar("_Source")


class NotPlain(Exception):
    """Syft would read this file in a way the native readers do not reproduce."""


def packages_of(
    sources: Iterable[_Source],
    read: Callable[[_Source], Package | None],
    where: Callable[[_Source], str],
) -> list[Package] | None:
    """The packages ``read`` gives for ``sources`` (None for one Syft finds nothing in),
    or None when one is not plain (logged with ``where`` the source is: the operator
    sees why Syft ran). The same package found in two places is two packages, as Syft
    reports it (their locations differ)."""
    found: list[Package] = []
    for source in sources:
        try:
            package = read(source)
        except NotPlain as reason:
            logger.info("/%s is left to Syft: %s", where(source), reason)
            return None
        if package is not None:
            found.append(package)
    return found


def go_json_object(content: bytes, fields: Collection[str]) -> dict[str, Any]:
    """``content`` as one JSON object that Go's decoder reads as Python does: UTF-8, no
    NaN or Infinity, no key twice in any case, and no key that differs only in case from
    one of the struct's ``fields`` (Go would match it to the field)."""
    try:
        document = json.loads(
            content.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise NotPlain("not one JSON document (or nested too deep)") from error
    if not isinstance(document, dict):
        raise NotPlain("not an object")
    check_go_keys(document, fields)
    return document


def check_go_keys(document: dict[str, Any], fields: Collection[str]) -> None:
    """Refuse keys Go's decoder would match to one of ``fields`` without regard to case."""
    folded = {field.lower() for field in fields}
    for key in document:
        if not key.isascii() or (key.lower() in folded and key not in fields):
            raise NotPlain(f"key {key!r} would match a field without regard to case")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key.lower() for key, _ in pairs}) != len(pairs):
        raise ValueError("a key twice")
    return dict(pairs)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def spdx(value: str) -> str:
    """What Syft makes of a declared license: an SPDX identifier it knows (its lookup
    trims, lowercases and drops dashes), or an expression of them kept as written."""
    identifier = _LICENSE_IDS.get(value.strip().lower().replace("-", ""))
    if identifier is not None:
        return identifier
    tokens = _EXPRESSION_TOKEN.findall(value)
    if (
        " ".join(tokens).replace("( ", "(").replace(" )", ")") == value
        and any(token in ("AND", "OR") for token in tokens)
        and all(token in ("AND", "OR", "(", ")") or token in LICENSES for token in tokens)
        and _balanced(tokens)
    ):
        return value
    raise NotPlain(f"license {value!r}")


def declared_license(value: str) -> str:
    """What Syft makes of a declared license that may also be free text it keeps."""
    try:
        return spdx(value)
    except NotPlain:
        if value in FREE_TEXT_LICENSES:
            return value
        raise


def scanned_lines(content: bytes) -> list[str]:
    """``content`` in the lines Go's bufio.Scanner gives (ScanLines): UTF-8 split at
    newlines, a carriage return before one dropped, no empty line after the last one. A
    line near the scanner's limit is not plain."""
    return scanned_text_lines(_decoded(content))


def scanned_text(content: bytes) -> str:
    """``content`` decoded, where Go's scanner reads it as :func:`scanned_lines` says
    (NotPlain otherwise): for a search of the whole text, where a pattern that does not
    cross a newline finds what it finds in one of those lines."""
    text = _decoded(content)
    if len(text) > SCANNER_LINE:  # shorter, no line can be too long
        _check_lengths(text.split("\n"))
    return text


def scanned_text_lines(text: str) -> list[str]:
    """:func:`scanned_lines` of text already decoded."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    _check_lengths(lines)
    return [line.removesuffix("\r") for line in lines]


def _decoded(content: bytes) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotPlain("not UTF-8") from error


def _check_lengths(lines: list[str]) -> None:
    if lines and max(map(len, lines)) > SCANNER_LINE:
        raise NotPlain("a line near Go's scanner limit")


def go_trim(text: str) -> str:
    """``text`` as Go's strings.TrimSpace leaves it."""
    return text.strip(_GO_SPACE)


def _balanced(tokens: list[str]) -> bool:
    """Operands and operators alternate, parentheses nest."""
    depth, operand_expected = 0, True
    for part in tokens:
        if part == "(" and operand_expected:
            depth += 1
        elif part == ")" and not operand_expected and depth:
            depth -= 1
        elif part in ("AND", "OR") and not operand_expected:
            operand_expected = True
        elif part not in ("(", ")", "AND", "OR") and operand_expected:
            operand_expected = False
        else:
            return False
    return depth == 0 and not operand_expected
