"""OpenVEX and CycloneDX VEX statements suppress matching findings (and only those)."""

from __future__ import annotations

import json

import pytest

from service.catalog.model import PackageType
from service.errors import PolicyError
from service.vulndb.matcher import match
from service.vulndb.store import VulnStore
from service.vulndb.vex import apply_vex, parse_vex
from tests.unit.vulndb.realdata import make_catalog, pkg

PURL = "pkg:npm/lodash@4.17.11"


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
    result = apply_vex(findings, parse_vex(json.dumps(document)))
    assert len(result) == len(findings)
    assert result[0].suppressed_by is not None
    assert result[0].suppressed_by.justification == "vulnerable_code_not_in_execute_path"
    assert all(f.suppressed_by is None for f in result[1:])


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
    result = apply_vex(findings, parse_vex(json.dumps(document)))
    assert result[0].suppressed_by is None
    assert result[1].suppressed_by is not None and result[1].suppressed_by.status == "fixed"


def test_not_a_vex_document() -> None:
    with pytest.raises(PolicyError):
        parse_vex("{}")
