"""VEX: OpenVEX and CycloneDX VEX statements that suppress findings.

A ``not_affected`` or ``fixed`` statement suppresses findings whose id or
alias names the statement's vulnerability and whose package purl matches a
product (a purl without version matches every version). Suppressed findings
stay in the list with ``suppressed_by`` set.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from service.errors import PolicyError
from service.vulndb.model import Finding, Suppression

logger = logging.getLogger(__name__)

_SUPPRESSING = {"not_affected", "fixed"}
_CYCLONEDX_STATES = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
}


@dataclass(frozen=True)
class VexStatement:
    vulnerabilities: frozenset[str]  # id and aliases
    products: tuple[str, ...]  # purls
    status: str
    justification: str | None
    document: str

    def applies_to(self, finding: Finding) -> bool:
        names = {finding.id, *finding.aliases}
        if not names & self.vulnerabilities or finding.package.purl is None:
            return False
        return any(_purl_matches(p, finding.package.purl) for p in self.products)


def _purl_matches(product: str, purl: str) -> bool:
    try:
        wanted, actual = PackageURL.from_string(product), PackageURL.from_string(purl)
    except ValueError:
        return False
    same = (wanted.type, wanted.namespace, wanted.name) == (
        actual.type,
        actual.namespace,
        actual.name,
    )
    return same and (wanted.version is None or wanted.version == actual.version)


def parse_vex(raw: bytes | str, *, name: str = "vex") -> list[VexStatement]:
    """Suppressing statements from an OpenVEX or CycloneDX VEX JSON document."""
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise PolicyError(
            f"{name} is not JSON: {error}", hint="pass an OpenVEX or CycloneDX VEX document"
        ) from error
    if not isinstance(data, dict):
        raise PolicyError(f"{name} is not a VEX document", hint="expected a JSON object")
    if "statements" in data:
        return _openvex(data, str(data.get("@id") or name))
    if "vulnerabilities" in data:
        return _cyclonedx(data, str(data.get("serialNumber") or name))
    raise PolicyError(
        f"{name} is neither OpenVEX nor CycloneDX VEX",
        hint="OpenVEX has 'statements', CycloneDX has 'vulnerabilities'",
    )


def _openvex(data: dict[str, Any], document: str) -> list[VexStatement]:
    statements = []
    for entry in data["statements"]:
        status = entry.get("status")
        if status not in _SUPPRESSING:
            continue
        vuln = entry.get("vulnerability")
        names = (
            {vuln} if isinstance(vuln, str) else {vuln.get("name"), *(vuln.get("aliases") or [])}
        )
        products = [p if isinstance(p, str) else p.get("@id") for p in entry.get("products") or []]
        statements.append(
            VexStatement(
                vulnerabilities=frozenset(n for n in names if isinstance(n, str)),
                products=tuple(p for p in products if isinstance(p, str)),
                status=status,
                justification=entry.get("justification"),
                document=document,
            )
        )
    return statements


def _cyclonedx(data: dict[str, Any], document: str) -> list[VexStatement]:
    statements = []
    for vuln in data["vulnerabilities"]:
        analysis = vuln.get("analysis") or {}
        status = _CYCLONEDX_STATES.get(analysis.get("state", ""))
        if status is None:
            continue
        names = {vuln.get("id"), *(r.get("id") for r in vuln.get("references") or [])}
        products = [a.get("ref") for a in vuln.get("affects") or []]
        statements.append(
            VexStatement(
                vulnerabilities=frozenset(n for n in names if isinstance(n, str)),
                products=tuple(p for p in products if isinstance(p, str)),
                status=status,
                justification=analysis.get("justification"),
                document=document,
            )
        )
    return statements


def apply_vex(findings: Sequence[Finding], statements: Iterable[VexStatement]) -> list[Finding]:
    """Findings with ``suppressed_by`` set where a statement applies (order kept)."""
    statements = list(statements)
    result = []
    for finding in findings:
        statement = next((s for s in statements if s.applies_to(finding)), None)
        if statement is None or finding.suppressed_by is not None:
            result.append(finding)
            continue
        result.append(
            finding.model_copy(
                update={
                    "suppressed_by": Suppression(
                        status=statement.status,
                        justification=statement.justification,
                        statement=statement.document,
                    )
                }
            )
        )
    return result
