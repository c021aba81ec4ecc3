"""The ``spdxExpression`` Syft 1.18.1 gives a declared license that is a single token,
such as the ``License:`` short names of Debian copyright files (``GPL-2+``).

Syft's ``license.ParseExpression`` (``syft/license/license.go``) first looks the value up
in its SPDX table (``internal/spdxlicense``): the key is the value trimmed (Go's
strings.TrimSpace), lowercased and without dashes, and a hit gives the table's SPDX
identifier (``GPL-2+`` gives ``GPL-2.0-or-later``). Otherwise the value is kept as
written when github.com/github/go-spdx/v2 (v2.3.2, as Syft's go.mod pins it) validates it
as an expression, and dropped (``""``) when it does not. For a token of
``[A-Za-z0-9.-]`` go-spdx's scanner (``spdxexp/scan.go``, normalizeLicense) reads one
identifier and looks it up without regard to case: among the active licenses and the
exceptions, then with a ``-only`` or ``-or-later`` suffix cut off, then among the
deprecated licenses. A license found is a valid expression; an exception alone is not.

Anything whose reading is not reproduced here (an exception, other characters, a
``LicenseRef-``/``DocumentRef-`` reference, an empty value) raises :class:`NotPlain`.
``data/`` holds Syft's table (``syft-<version>-spdx-license-ids.json``) and go-spdx's
lists (``go-spdx-<version>-license-ids.json``), both extracted unchanged.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Literal

from service.catalog.syft_native import SYFT_VERSION, NotPlain, go_trim

GO_SPDX_VERSION = "2.3.2"

# What go-spdx's readID takes as one identifier.
_ID = re.compile(r"[A-Za-z0-9.-]+")
# A token with a "+" before its end, and nothing but identifiers around it.
_PLUSES = re.compile(r"[A-Za-z0-9.+-]*\+[A-Za-z0-9.+-]+")
# go-spdx scans for these operators before an identifier, case-sensitively, so a token
# starting with one is read as an operator first, and an expression cannot start with
# an operator: such a token is never valid.
_OPERATORS = ("WITH", "AND", "OR")
# go-spdx reads what follows these as a reference, not as a license.
_REFERENCES = ("DocumentRef-", "LicenseRef-")

_Role = Literal["license", "exception"]


@functools.cache
def _syft_ids() -> dict[str, str]:
    path = (
        resources.files("service.catalog") / "data" / f"syft-{SYFT_VERSION}-spdx-license-ids.json"
    )
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


@functools.cache
def _go_spdx_lists() -> dict[str, frozenset[str]]:
    """go-spdx's "licenses", "exceptions" and "deprecated" lists, lowercased: its lookup
    is strings.EqualFold, which for these ASCII identifiers is equality once lowercased."""
    path = (
        resources.files("service.catalog") / "data" / f"go-spdx-{GO_SPDX_VERSION}-license-ids.json"
    )
    loaded: dict[str, list[str]] = json.loads(path.read_text())
    return {name: frozenset(item.lower() for item in items) for name, items in loaded.items()}


def spdx_expression(value: str) -> str:
    """The ``spdxExpression`` Syft 1.18.1 gives the declared license ``value``: Syft's
    SPDX identifier for it, else ``value`` when go-spdx reads it as a license, else
    ``""``. Raises :class:`NotPlain` when that reading is not reproduced here."""
    trimmed = go_trim(value)
    # Go lowercases rune by rune, Python with full case mappings ("İ"): keep to ASCII.
    if not trimmed.isascii():
        raise NotPlain(f"license {value!r} is not ASCII")
    identifier = _syft_ids().get(trimmed.lower().replace("-", ""))
    if identifier is not None:
        return identifier
    return value if _valid(value) else ""


def _valid(value: str) -> bool:
    """Whether go-spdx's ValidateLicenses accepts ``value``, a single token."""
    if not value:
        raise NotPlain("empty license")
    if value.startswith(_REFERENCES) or value[0].isspace():
        raise NotPlain(f"license {value!r} is a reference or starts with a space")
    if value.startswith(_OPERATORS):
        return False
    run = _ID.match(value)
    first = run.group() if run else ""
    rest = value[len(first) :]
    if not first:
        if value[0] in "():+":
            raise NotPlain(f"license {value!r} starts with an operator")
        return False  # go-spdx's scanner finds no identifier where one must be
    role = _normalized(first)
    if role is None and rest.startswith("+"):
        role = _lookup(f"{first}-or-later")
    if role is None:
        return False  # the scanner fails on an identifier it does not know
    if role == "exception":
        raise NotPlain(f"license {value!r} is an SPDX exception")
    if not rest:
        return True
    if any(c.isspace() for c in rest):
        raise NotPlain(f"license {value!r} is an expression")
    if rest[0] not in "+():":
        return False  # after the identifier, neither an operator nor one: a scan error
    if _PLUSES.fullmatch(value) and rest != "+" and not any(op in value for op in _OPERATORS):
        # identifiers and "+" with more after a "+": known identifiers would follow
        # each other without an AND, OR or WITH between them, which the parser refuses
        return False
    raise NotPlain(f"license {value!r} is not a single SPDX identifier")


def _normalized(license_id: str) -> _Role | None:
    """What go-spdx's normalizeLicense finds ``license_id`` to be, in its order. (Its
    branch for a following "+" does not apply: the token has none.)"""
    role = _lookup(license_id)
    # Both suffixes are matched case-sensitively (strings.HasSuffix).
    if role is None and license_id.endswith("-only"):
        role = _lookup(license_id.removesuffix("-only"))
    if role is None and license_id.endswith("-or-later"):
        # go-spdx rewrites the suffix to a "+" operator, which a license takes.
        role = _lookup(license_id.removesuffix("-or-later"))
    if role is None and license_id.lower() in _go_spdx_lists()["deprecated"]:
        role = "license"
    return role


def _lookup(license_id: str) -> _Role | None:
    """go-spdx's licenseLookup: the active licenses, then the exceptions."""
    lists, key = _go_spdx_lists(), license_id.lower()
    if key in lists["licenses"]:
        return "license"
    if key in lists["exceptions"]:
        return "exception"
    return None
