"""Harbor's ``preferred_cvss`` v3 fields hold only CVSS v3.x, also when the advisory's
highest score is a CVSS 4.0 one (real GHSA record with both)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from service.api.harbor import _vulnerability
from service.vulndb.cve import CveFacts
from service.vulndb.feeds.osv import parse_osv
from service.vulndb.matcher import Matcher
from service.vulndb.model import Finding, PackageKey, PackageRef
from service.vulndb.records import Advisory
from tests.support.shared import VULNDATA

RECORD = json.loads((VULNDATA / "osv" / "npm" / "GHSA-qwcr-r2fm-qrc7.json").read_text())


class _Index:
    """An AdvisoryIndex over one record's advisories."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        self._advisories = tuple(advisories)

    def revision(self) -> int:
        return 1

    def advisories(self, keys: Iterable[PackageKey]) -> Mapping[PackageKey, tuple[Advisory, ...]]:
        return {
            k: tuple(a for a in self._advisories if (a.ecosystem, a.package) == k) for k in keys
        }

    def cve_facts(self, ids: Iterable[str]) -> Mapping[str, CveFacts]:
        return {}


def _finding() -> Finding:
    ref = PackageRef(name="body-parser", version="1.20.2", type="npm")
    index = _Index(parse_osv(RECORD).advisories)
    (finding,) = Matcher(index).match_packages([(("npm", "body-parser", "1.20.2"), ref)])
    return finding


def test_v3_fields_never_hold_a_cvss4_vector() -> None:
    vectors = {s["type"]: s["score"] for s in RECORD["severity"]}
    finding = _finding()
    assert finding.cvss_vector == vectors["CVSS_V4"]  # the higher score rates the severity
    assert finding.cvss_v3_vector == vectors["CVSS_V3"]
    preferred = _vulnerability(finding)["preferred_cvss"]
    assert preferred == {"score_v3": 7.5, "vector_v3": vectors["CVSS_V3"]}


def test_no_v3_vector_means_no_v3_fields() -> None:
    only_v4 = _finding().model_copy(update={"cvss_v3_score": None, "cvss_v3_vector": None})
    assert "preferred_cvss" not in _vulnerability(only_v4)
