"""VEX: OpenVEX 0.2 and CycloneDX VEX statements that suppress findings.

A ``not_affected`` or ``fixed`` statement suppresses the findings whose id or alias
names its vulnerability, in the products it names:

* a package purl (``pkg:deb/debian/openssl``; without a version it names every
  version) names that package in every image;
* an image purl (``pkg:oci/app@sha256:…?repository_url=registry/team/app``) names one
  image: by digest when it has a version, else every image of that repository. Its
  ``subcomponents`` narrow the statement to those packages; without them it covers
  every package of the image.

``under_investigation`` and ``affected`` statements suppress nothing. A suppressed
finding stays listed with ``vex`` set (status, justification, source); rules do not
count it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from service.errors import PolicyError
from service.vulndb.model import Finding, VexState

logger = logging.getLogger(__name__)

_SUPPRESSING = {"not_affected", "fixed"}
_CYCLONEDX_STATES = {
    "not_affected": "not_affected",
    "false_positive": "not_affected",
    "resolved": "fixed",
}


@dataclass(frozen=True)
class ImageScope:
    """The image a finding was found in: what image products are compared with."""

    digest: str
    registry: str = ""
    repository: str = ""


@dataclass(frozen=True)
class VexProduct:
    """One product of a statement: a package purl, or an image with optional packages."""

    purl: str
    subcomponents: tuple[str, ...] = ()

    def covers(self, finding: Finding, image: ImageScope) -> bool:
        product = _parse_purl(self.purl)
        if product is None:
            return False
        if product.type != "oci":
            return _purl_matches(product, finding.package.purl)
        if not _image_matches(product, image):
            return False
        if not self.subcomponents:
            return True
        return any(
            (wanted := _parse_purl(sub)) is not None and _purl_matches(wanted, finding.package.purl)
            for sub in self.subcomponents
        )


@dataclass(frozen=True)
class VexStatement:
    vulnerabilities: frozenset[str]  # id and aliases
    products: tuple[VexProduct, ...]
    status: str
    justification: str | None
    source: str

    @property
    def suppresses(self) -> bool:
        return self.status in _SUPPRESSING

    def applies_to(self, finding: Finding, image: ImageScope) -> bool:
        if not {finding.id, *finding.aliases} & self.vulnerabilities:
            return False
        return any(product.covers(finding, image) for product in self.products)


def _parse_purl(text: str) -> PackageURL | None:
    try:
        return PackageURL.from_string(text)
    except ValueError:
        return None


def _purl_matches(wanted: PackageURL, purl: str | None) -> bool:
    actual = _parse_purl(purl) if purl else None
    if actual is None:
        return False
    same = (wanted.type, wanted.namespace, wanted.name) == (
        actual.type,
        actual.namespace,
        actual.name,
    )
    return same and (wanted.version is None or wanted.version == actual.version)


def _image_matches(product: PackageURL, image: ImageScope) -> bool:
    if product.version is not None:
        return product.version == image.digest
    qualifiers = product.qualifiers if isinstance(product.qualifiers, dict) else {}
    location = qualifiers.get("repository_url")
    if location:
        return location in (f"{image.registry}/{image.repository}", image.repository)
    return product.name == image.repository.rsplit("/", 1)[-1]


def parse_vex(raw: bytes | str, *, name: str = "vex") -> list[VexStatement]:
    """Every statement of an OpenVEX or CycloneDX VEX JSON document (``name`` is where it
    came from, used when the document has no id of its own)."""
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise PolicyError(
            f"{name} is not JSON: {error}", hint="pass an OpenVEX or CycloneDX VEX document"
        ) from error
    if not isinstance(data, dict):
        raise PolicyError(f"{name} is not a VEX document", hint="expected a JSON object")
    try:
        if isinstance(data.get("statements"), list):
            return _openvex(data, str(data.get("@id") or name))
        if isinstance(data.get("vulnerabilities"), list):
            return _cyclonedx(data, str(data.get("serialNumber") or name))
    except (AttributeError, TypeError) as error:
        raise PolicyError(
            f"{name} is not a well-formed VEX document ({error})",
            hint="check it against the OpenVEX 0.2 or CycloneDX 1.6 schema",
        ) from error
    raise PolicyError(
        f"{name} is neither OpenVEX nor CycloneDX VEX",
        hint="OpenVEX has 'statements', CycloneDX has 'vulnerabilities'",
    )


def _openvex(data: dict[str, Any], document: str) -> list[VexStatement]:
    statements = []
    for entry in data["statements"]:
        vuln = entry.get("vulnerability")
        names = (
            {vuln} if isinstance(vuln, str) else {vuln.get("name"), *(vuln.get("aliases") or [])}
        )
        products = []
        for product in entry.get("products") or []:
            if isinstance(product, str):
                products.append(VexProduct(product))
            elif isinstance(product.get("@id"), str):
                subs = [s.get("@id") for s in product.get("subcomponents") or []]
                products.append(
                    VexProduct(product["@id"], tuple(s for s in subs if isinstance(s, str)))
                )
        statements.append(
            VexStatement(
                vulnerabilities=frozenset(n for n in names if isinstance(n, str)),
                products=tuple(products),
                status=str(entry.get("status")),
                justification=entry.get("justification"),
                source=document,
            )
        )
    return statements


def _cyclonedx(data: dict[str, Any], document: str) -> list[VexStatement]:
    statements = []
    for vuln in data["vulnerabilities"]:
        analysis = vuln.get("analysis") or {}
        state = str(analysis.get("state", ""))
        names = {vuln.get("id"), *(r.get("id") for r in vuln.get("references") or [])}
        products = [a.get("ref") for a in vuln.get("affects") or []]
        statements.append(
            VexStatement(
                vulnerabilities=frozenset(n for n in names if isinstance(n, str)),
                products=tuple(VexProduct(p) for p in products if isinstance(p, str)),
                status=_CYCLONEDX_STATES.get(state, state),
                justification=analysis.get("justification"),
                source=document,
            )
        )
    return statements


def apply_vex(
    findings: Sequence[Finding], statements: Iterable[VexStatement], image: ImageScope
) -> list[Finding]:
    """``findings`` (order kept) with ``vex`` set where a suppressing statement applies.

    The last statement that applies to a finding decides, as later OpenVEX statements
    supersede earlier ones: a later ``affected`` or ``under_investigation`` statement
    lifts an earlier ``not_affected``.
    """
    statements = list(statements)
    if not statements:
        return list(findings)
    result = []
    for finding in findings:
        last = next((s for s in reversed(statements) if s.applies_to(finding, image)), None)
        if last is None or not last.suppresses:
            result.append(finding.model_copy(update={"vex": None}) if finding.vex else finding)
            continue
        state = VexState(status=last.status, justification=last.justification, source=last.source)
        result.append(finding.model_copy(update={"vex": state}))
    return result
