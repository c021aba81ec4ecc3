"""Every ecosystem's versions ordered as its reference implementation orders them, checked
against the implementations' own published test vectors (tests/fixtures/versions/).

The reference suites (dpkg, apk-tools, rpm, packaging, node-semver, golang.org/x/mod,
Maven) pass without exception. osv-scalibr's fixtures (osv-scanner's version semantics)
pass except where osv-scalibr itself departs from the reference tool; those vectors are
listed below with the reason, and the test checks that each one still departs (so the
list cannot outlive a fix)."""

from __future__ import annotations

import collections

import pytest

from service.vulndb.versions import UnparseableVersionError, scheme_for
from tests.unit.vulndb.version_vectors import Vector, every_suite

_APK = "osv-scalibr/alpine-versions.txt"
_MAVEN = "osv-scalibr/maven-versions-generated.txt.gz"

# reason → (suite, "a op b") of osv-scalibr vectors where Tollgate follows the reference tool
DEVIATIONS: dict[str, list[tuple[str, str]]] = {
    "apk-tools reads '-r' without a number as an invalid token, below '-r0'": [
        (_APK, "1-r = 1-r0"),
        (_APK, "1-r0-1 = 1-r-2"),
    ],
    "apk-tools stops at an invalid token ('..', '.r1') and calls the rest equal": [
        (_APK, "0..1..0 < 0..1..1"),
        (_APK, "0...1...0 < 0...1...1"),
        (_APK, "0...1...0.r1 < 0...1...0.r2"),
        (_APK, "0...1...0r1 < 0...1...0r2"),
        (_APK, "0..8 > 0...8"),
        (_APK, "0.8.21.r2 > 0.8.21.r1"),
    ],
    "apk-tools cannot order a version without a leading number: not evaluated": [
        (_APK, ".1 < 1"),
        (_APK, "1 > .1"),
        (_APK, ".2 > .1"),
        (_APK, "a < b"),
        (_APK, "c > b"),
        (_APK, "c = c"),
    ],
    "Maven 4 ComparableVersion (MNG-7644 and its qualifier rules) orders these otherwise": [
        (_MAVEN, "3.2.0rc2 < 3.2.0-rc.1"),
        (_MAVEN, "4.0.16.Final < 4.0.16.Final-jason1"),
        (_MAVEN, "4.0.17.Final < 4.0.17.Final-wildfly-1"),
        (_MAVEN, "1.1.3.RELEASE < 1.1.3.RELEASE-A"),
        (_MAVEN, "1.0.0-RC16 < 1.0.0.RC8-beta"),
        (_MAVEN, "1.0.0-gradle-rework-beta3 < 1.0.0.RC7-3"),
        (_MAVEN, "2.9.0-1 < 2.9.0.RC1"),
        (_MAVEN, "7.4.3.20 < 7.4.3.20-ga20"),
        (_MAVEN, "7.4.3.21 < 7.4.3.21-ga21"),
        (_MAVEN, "6.1.12.rc5 < 6.1.12rc1"),
        (_MAVEN, "1.0.0-beta11 < 1.0.0-beta.6"),
        (_MAVEN, "1.1.31.sec10 < 1.1.31_noneautotype"),
        (_MAVEN, "1.1.34.sec10 < 1.1.34_noneautotype"),
        (_MAVEN, "1.1.46.sec10 < 1.1.46_noneautotype"),
        (_MAVEN, "1.2.8.sec10_noneautotype < 1.2.8_noneautotype"),
        (_MAVEN, "1.2.31.sec10 < 1.2.31_noneautotype"),
        (_MAVEN, "1.2.48.sec10 < 1.2.48_noneautotype"),
        (_MAVEN, "1.2.50.sec10 < 1.2.50_noneautotype"),
        (_MAVEN, "1.2.54.sec10 < 1.2.54_noneautotype"),
        (_MAVEN, "1.2.57.sec10 < 1.2.57_noneautotype"),
        (_MAVEN, "1.2.60.sec10 < 1.2.60_noneautotype"),
        (_MAVEN, "1.2.67.sec10 < 1.2.67_noneautotype"),
        (_MAVEN, "1.0.0rc0 < 1.0.beta8"),
        (_MAVEN, "1.5.9.RC1 < 1.5.9-RC0"),
        (_MAVEN, "3.5.0-CR-2 < 3.5.0.Beta-1"),
        (_MAVEN, "1.1.0-01-glassfish < 1.1.0.Beta1"),
        (_MAVEN, "v3.7.0rc2 < v3.7.0-rc.3"),
        ("osv-scalibr/maven-versions.txt", "1-1.foo-bar-1-baz-0.1 = 1-1.foo-bar1baz-.1"),
        ("osv-scalibr/maven-versions.txt", "1-1 = 1-ga-1"),
    ],
    "rpm compares releases only when both versions have one: '1' and '1-' are equal": [
        ("osv-scalibr/redhat-versions.txt", "1 < 1-"),
    ],
    "node-semver refuses a fifth component: not evaluated": [
        ("osv-scalibr/semver-versions.txt", "1.1.3.4.5 = 1.1.3.4.5"),
    ],
}
_DEVIATING = {case: reason for reason, cases in DEVIATIONS.items() for case in cases}


def _outcome(vector: Vector) -> str:
    """What Tollgate's scheme says: "<", "=", ">" or "invalid"."""
    scheme = scheme_for(vector.ecosystem)
    try:
        a = scheme(vector.a)
        b = scheme(vector.b) if vector.op != "invalid" else a
    except UnparseableVersionError:
        return "invalid"
    return "<" if a < b else ">" if b < a else "="


def test_every_reference_vector_holds() -> None:
    failures: list[str] = []
    counted: collections.Counter[str] = collections.Counter()
    seen: set[tuple[str, str]] = set()
    for vector in every_suite():
        counted[vector.suite] += 1
        case = (vector.suite, f"{vector.a} {vector.op} {vector.b}")
        if case in _DEVIATING:
            seen.add(case)
            assert _outcome(vector) != vector.op, f"no longer deviates: {vector}"
        elif (outcome := _outcome(vector)) != vector.op:
            failures.append(f"{vector} (Tollgate: {outcome})")
    assert not failures, f"{len(failures)} vectors fail:\n" + "\n".join(failures[:50])
    assert seen == set(_DEVIATING), f"listed but not in the suites: {set(_DEVIATING) - seen}"
    assert sum(counted.values()) > 60_000  # every suite was read
    assert len(counted) == 21


@pytest.mark.parametrize(
    ("ecosystem", "version"),
    [
        (ecosystem, version)
        for ecosystem in (
            "PyPI",
            "npm",
            "Go",
            "Maven",
            "NuGet",
            "RubyGems",
            "Debian",
            "Alpine",
            "Red Hat",
        )
        for version in ("1" * 5000, "1.0a" + "1" * 5000, "1." * 50_000, "x" * 100_000)
    ],
)
def test_hostile_versions_are_unparseable_not_errors(ecosystem: str, version: str) -> None:
    with pytest.raises(UnparseableVersionError):
        scheme_for(ecosystem)(version)
