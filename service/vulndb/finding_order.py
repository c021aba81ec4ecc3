"""The orders findings are listed in (the API's ``sort`` and the console's image page):
worst first, known-exploited first, or most likely exploited first."""

from __future__ import annotations

from enum import StrEnum
from typing import assert_never

from service.vulndb.model import Finding


class FindingOrder(StrEnum):
    SEVERITY = "severity"
    KEV = "kev"
    EPSS = "epss"


def ordered(findings: list[Finding], order: FindingOrder) -> list[Finding]:
    """``findings`` in ``order``; ties are broken by severity (worst first), then id and
    package name."""

    def worst(f: Finding) -> tuple[int, str, str]:
        return (-f.severity.rank, f.id, f.package.name)

    match order:
        case FindingOrder.SEVERITY:
            return sorted(findings, key=worst)
        case FindingOrder.KEV:
            return sorted(
                findings,
                key=lambda f: (
                    f.kev is None,
                    not (f.kev and f.kev.ransomware),
                    -(f.kev.date_added.toordinal() if f.kev else 0),
                    *worst(f),
                ),
            )
        case FindingOrder.EPSS:
            return sorted(findings, key=lambda f: (-(f.epss.score if f.epss else -1.0), *worst(f)))
        case _:
            assert_never(order)
