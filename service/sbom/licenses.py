"""License strings from engines, as SPDX expressions the SBOM formats accept.

The SPDX license list is the one spdx-tools validates against (built from it on the first
license to normalise: ~40 ms, which an SBOM whose new packages declare none, such as a
push that adds application code, does not spend). Engines report
what packages declare: SPDX ids, expressions, and free text such
as ``MIT-like`` or ``GPL-3+ with Bison exception``. Valid SPDX expressions are
normalised (``GPL-2.0`` -> ``GPL-2.0-only``); anything else becomes a
``LicenseRef-`` carrying the original text, never an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.]+")


@dataclass(frozen=True, order=True)
class LicenseTerm:
    """One license an engine reported for a package."""

    text: str  # as the engine reported it
    spdx: str | None  # the normalised SPDX expression, None when ``text`` is not one

    @property
    def ref(self) -> str:
        """The ``LicenseRef-`` that stands for a non-SPDX ``text``."""
        return "LicenseRef-" + (_NOT_IDSTRING.sub("-", self.text).strip("-") or "unnamed")

    @property
    def expression(self) -> str:
        return self.spdx or self.ref

    @property
    def compound(self) -> bool:
        """An expression with operators (``MIT OR Apache-2.0``), not a single id."""
        return self.spdx is not None and " " in self.spdx


def license_terms(licenses: Iterable[str]) -> tuple[LicenseTerm, ...]:
    """The package's licenses, normalised, deduplicated and sorted."""
    terms: dict[str, LicenseTerm] = {}
    for text in licenses:
        if not text.strip():
            continue
        term = LicenseTerm(text=text, spdx=_normalised(text))
        terms.setdefault(term.expression, term)
    return tuple(sorted(terms.values(), key=lambda t: t.expression))


def combined_expression(terms: Iterable[LicenseTerm]) -> str | None:
    """All terms joined with AND (each declared license applies to some of the files)."""
    parts = [f"({t.expression})" if t.compound else t.expression for t in terms]
    return " AND ".join(parts) or None


@lru_cache(maxsize=4096)
def _normalised(text: str) -> str | None:
    """The SPDX expression ``text`` normalises to (the same strings recur across packages)."""
    from spdx_tools.common.spdx_licensing import spdx_licensing  # built on first import

    try:
        info = spdx_licensing.validate(text)
    except AttributeError:
        # license-expression 30.4 fails this way on some malformed input ("MIT/X11")
        return None
    return None if info.errors else str(info.normalized_expression)
