"""OpenVEX and CycloneDX VEX statements suppress matching findings (and only those), for
packages in any image or for one image (by digest or repository) and its subcomponents."""

from __future__ import annotations

import json

import pytest

from service.catalog.model import PackageType
from service.errors import PolicyError
from service.store.advisories import VulnStore
from service.vulndb.matcher import match
from service.vulndb.vex import ImageScope, apply_vex, parse_vex
from tests.unit.vulndb.realdata import make_catalog, pkg

PURL = "pkg:npm/lodash@4.17.11"
DIGEST = "sha256:" + "a" * 64
IMAGE = ImageScope(DIGEST, "registry.example", "team/app")


def _findings(real_db: VulnStore):  # type: ignore[no-untyped-def]
    catalog = make_catalog([pkg("lodash", "4.17.11", PackageType.NPM, purl=PURL)])
    findings = match(catalog, real_db)
    assert len(findings) >= 2
    return findings


def test_openvex_not_affected_by_alias(real_db: VulnStore) -> None:
    findings = _findings(real_db)
    target = findings[0]
    alias = target.aliases[0] if target.aliases else target.id
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "urn:vex:1",
        "statements": [
            {
                "vulnerability": {"name": alias},
                "products": [{"@id": "pkg:npm/lodash"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_in_execute_path",
            },
            {
                "vulnerability": {"name": findings[1].id},
                "products": [{"@id": PURL}],
                "status": "affected",
            },
        ],
    }
    result = apply_vex(findings, parse_vex(json.dumps(document)), IMAGE)
    assert len(result) == len(findings)
    assert result[0].vex is not None
    assert result[0].vex.justification == "vulnerable_code_not_in_execute_path"
    assert all(f.vex is None for f in result[1:])


def test_cyclonedx_vex_other_version_does_not_suppress(real_db: VulnStore) -> None:
    findings = _findings(real_db)
    document = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "vulnerabilities": [
            {
                "id": findings[0].id,
                "analysis": {"state": "not_affected", "justification": "code_not_reachable"},
                "affects": [{"ref": "pkg:npm/lodash@4.17.21"}],
            },
            {"id": findings[1].id, "analysis": {"state": "resolved"}, "affects": [{"ref": PURL}]},
        ],
    }
    result = apply_vex(findings, parse_vex(json.dumps(document)), IMAGE)
    assert result[0].vex is None
    assert result[1].vex is not None and result[1].vex.status == "fixed"


def test_not_a_vex_document() -> None:
    with pytest.raises(PolicyError):
        parse_vex("{}")


def _openvex(*statements: dict[str, object]) -> str:
    return json.dumps(
        {"@context": "https://openvex.dev/ns/v0.2.0", "@id": "urn:vex:2", "statements": statements}
    )


def _image_statement(product: str, status: str = "not_affected", **extra: object) -> object:
    return {
        "vulnerability": {"name": "VULN"},
        "products": [{"@id": product, **extra}],
        "status": status,
        "justification": "component_not_present",
    }


@pytest.mark.parametrize(
    ("product", "subcomponents", "suppressed"),
    [
        (f"pkg:oci/app@{DIGEST}", [], True),  # the image, every package of it
        (f"pkg:oci/app@{DIGEST}", [{"@id": "pkg:npm/lodash"}], True),
        (f"pkg:oci/app@{DIGEST}", [{"@id": "pkg:npm/express"}], False),  # other package
        ("pkg:oci/app@sha256:" + "b" * 64, [], False),  # another image
        ("pkg:oci/app?repository_url=registry.example/team/app", [], True),  # by repository
        ("pkg:oci/app?repository_url=registry.example/team/other", [], False),
        ("pkg:oci/app", [], True),  # by name: the repository's last component
    ],
)
def test_image_products_scope_a_statement(
    real_db: VulnStore, product: str, subcomponents: list[object], suppressed: bool
) -> None:
    findings = _findings(real_db)
    statement = _image_statement(product, subcomponents=subcomponents)
    document = _openvex({**statement, "vulnerability": {"name": findings[0].id}})  # type: ignore[dict-item]
    result = apply_vex(findings, parse_vex(document), IMAGE)
    assert (result[0].vex is not None) is suppressed
    assert all(f.vex is None for f in result[1:])


def test_a_later_affected_statement_lifts_an_earlier_not_affected(real_db: VulnStore) -> None:
    findings = _findings(real_db)
    first = {**_image_statement(PURL), "vulnerability": {"name": findings[0].id}}  # type: ignore[dict-item]
    later = {**first, "status": "under_investigation"}  # type: ignore[dict-item]
    assert apply_vex(findings, parse_vex(_openvex(first)), IMAGE)[0].vex is not None
    assert apply_vex(findings, parse_vex(_openvex(first, later)), IMAGE)[0].vex is None
    affected = {**first, "status": "affected"}  # type: ignore[dict-item]
    assert apply_vex(findings, parse_vex(_openvex(affected)), IMAGE)[0].vex is None


def test_a_malformed_document_is_a_policy_error() -> None:
    with pytest.raises(PolicyError):
        parse_vex(json.dumps({"statements": ["not an object"]}))
