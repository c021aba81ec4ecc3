"""Issue 3 acceptance: `tollgate scan` of a real image (Debian 12 + PyPI wheels + npm app)
in a real registry reports exactly the advisories the imported records say it should.

The expected findings are computed here from the raw feed files with separate, simple
code (``packaging`` for PEP 440, integer tuples for semver, ``dpkg --compare-versions``
for Debian, against the dpkg status file inside the image layer), never from the matcher.
A second `tollgate db update` with an advisory held back from the first one re-evaluates
the stored catalog while the registry is down and records the findings it gained.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cmp_to_key
from pathlib import Path
from typing import Any

import pytest
from cvss import CVSS3, CVSS4
from packaging.utils import canonicalize_name
from packaging.version import Version

from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from tests.support.images import PushedImage, push_layout
from tests.support.registry import LocalRegistry
from tests.unit.vulndb.realdata import VULNDATA, dpkg_lt, dsa_fixes, osv_evaluation, semver_key

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is the Debian version oracle"),
]

TOLLGATE = [sys.executable, "-m", "service.cli"]
DSA_LIST = VULNDATA / "debian" / "security-tracker-2023-03" / "DSA-list"
FindingKey = tuple[str, str]  # (vulnerability id, package name)


@dataclass(frozen=True)
class DebPackage:
    name: str
    version: str
    source: str
    source_version: str


@dataclass(frozen=True)
class Expected:
    version: str
    aliases: frozenset[str]
    fixed: frozenset[str]
    vectors: frozenset[str]  # CVSS v3/v4 vectors of the records that matched


@dataclass(frozen=True)
class ImageFacts:
    """What is installed, read from the fixture and from the image's own first layer."""

    codename: str
    debs: tuple[DebPackage, ...]
    python: tuple[tuple[str, str], ...]
    npm: tuple[tuple[str, str], ...]


def _tollgate(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    env["TOLLGATE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [*TOLLGATE, *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def _base_layer(layout: Path) -> tarfile.TarFile:
    def blob(digest: str) -> Path:
        return layout / "blobs" / "sha256" / digest.removeprefix("sha256:")

    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
    return tarfile.open(blob(manifest["layers"][0]["digest"]))


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    for stanza in text.split("\n\n"):
        fields = dict(
            line.split(": ", 1)
            for line in stanza.splitlines()
            if ": " in line and not line.startswith(" ")
        )
        if fields:
            yield fields


def _image_facts(image: PushedImage) -> ImageFacts:
    with _base_layer(image.layout) as layer:

        def read(name: str) -> str:
            member = layer.extractfile(name)
            assert member is not None, name
            return member.read().decode()

        status = read("var/lib/dpkg/status")
        os_release = dict(
            line.split("=", 1) for line in read("etc/os-release").splitlines() if "=" in line
        )
    debs = []
    for fields in _stanzas(status):
        source, _, in_parens = fields.get("Source", fields["Package"]).partition(" (")
        debs.append(
            DebPackage(
                name=fields["Package"],
                version=fields["Version"],
                source=source,
                source_version=in_parens.rstrip(")") or fields["Version"],
            )
        )
    assert {(d.name, d.version) for d in debs} == set(image.built.debian_packages)
    return ImageFacts(
        codename=os_release["VERSION_CODENAME"].strip('"'),
        debs=tuple(debs),
        python=image.built.python_packages,
        npm=image.built.npm_packages,
    )


# --- expectations, straight from the records ------------------------------------------


def _vectors(record: dict[str, Any]) -> set[str]:
    entries = [*record.get("severity", [])]
    entries += [e for a in record.get("affected", []) for e in a.get("severity", [])]
    return {e["score"] for e in entries if e["type"] in ("CVSS_V3", "CVSS_V4")}


def _group(hits: list[tuple[dict[str, Any], frozenset[str]]]) -> dict[str, Expected]:
    """Records naming each other (id or alias) make one finding, CVE id primary."""
    groups: list[tuple[set[str], set[str], set[str]]] = []  # ids, fixes, vectors
    for record, fixes in hits:
        merged = ({record["id"], *record.get("aliases", [])}, set(fixes), _vectors(record))
        for group in [g for g in groups if g[0] & merged[0]]:
            groups.remove(group)
            for mine, theirs in zip(merged, group, strict=True):
                mine.update(theirs)
        groups.append(merged)
    result = {}
    for ids, fixes, vectors in groups:
        cves = sorted(i for i in ids if i.startswith("CVE-"))
        primary = cves[0] if cves else sorted(ids)[0]
        result[primary] = Expected(
            "", frozenset(ids - {primary}), frozenset(fixes), frozenset(vectors)
        )
    return result


def _osv_expected(
    records: Iterable[dict[str, Any]],
    packages: Iterable[tuple[str, str]],
    key: Callable[[str], Any],
    normalise: Callable[[str], str],
) -> dict[FindingKey, Expected]:
    records = [r for r in records if not r.get("withdrawn")]
    expected = {}
    for name, version in packages:

        def same(other: str, wanted: str = normalise(name)) -> bool:
            return normalise(other) == wanted

        hits = []
        for record in records:
            fixes = osv_evaluation(record, version, key, same)
            if fixes is not None:
                hits.append((record, fixes))
        for primary, group in _group(hits).items():
            expected[(primary, name)] = replace(group, version=version)
    return expected


def _debian_expected(dsa_texts: Iterable[str], facts: ImageFacts) -> dict[FindingKey, Expected]:
    fixes: dict[tuple[str, str], list[str]] = {}
    for text in dsa_texts:
        for slot, versions in dsa_fixes(text, facts.codename).items():
            fixes.setdefault(slot, []).extend(versions)
    expected = {}
    for (vuln, source), versions in fixes.items():
        lowest = sorted(versions, key=cmp_to_key(lambda a, b: -1 if dpkg_lt(a, b) else 1))[0]
        for deb in facts.debs:
            if deb.source == source and dpkg_lt(deb.source_version, lowest):
                expected[(vuln, deb.name)] = Expected(
                    deb.version, frozenset(), frozenset({lowest}), frozenset()
                )
    return expected


def _records(paths: Iterable[Path]) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in paths]


def _npm_name(name: str) -> str:
    return name


# --- the scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    facts: ImageFacts
    image: PushedImage
    data_dir: Path
    npm_first: tuple[Path, ...]
    npm_held_back: Path
    pypi: tuple[Path, ...]
    scan: subprocess.CompletedProcess[str]
    report: dict[str, Any]


def _held_back(npm_files: list[Path], facts: ImageFacts) -> Path:
    """The first npm advisory that affects a package in the image: imported only later."""
    for path in npm_files:
        if _osv_expected(_records([path]), facts.npm, semver_key, _npm_name):
            return path
    raise AssertionError("no npm advisory affects the image: the test data changed")


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """This module stops its registry half-way, so it does not use the shared one."""
    with LocalRegistry(tmp_path_factory.mktemp("e2e-registry")) as running:
        yield running


@pytest.fixture(scope="module")
def scenario(
    debian_app_image: PushedImage,
    private_registry: LocalRegistry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Scenario:
    image = push_layout(debian_app_image.built, private_registry.host, "tollgate-e2e/debian-app")
    facts = _image_facts(image)
    npm_files = sorted((VULNDATA / "osv" / "npm").glob("*.json"))
    held_back = _held_back(npm_files, facts)
    npm_first = tmp_path_factory.mktemp("npm-first")
    for path in npm_files:
        if path != held_back:
            shutil.copy(path, npm_first)
    data_dir = tmp_path_factory.mktemp("tollgate-data")
    update = _tollgate(
        [
            "db",
            "update",
            "--source",
            f"PyPI={VULNDATA / 'osv' / 'PyPI'}",
            "--source",
            f"PyPI={VULNDATA / 'osv' / 'PyPI-GHSA'}",
            "--source",
            f"npm={npm_first}",
            "--source",
            f"debian-dsa={DSA_LIST}",
        ],
        data_dir,
    )
    assert update.returncode == 0, update.stderr
    scan = _tollgate(["scan", image.reference, "--format", "json"], data_dir)
    assert scan.returncode in (0, 1), scan.stderr
    pypi = tuple(
        sorted((VULNDATA / "osv" / "PyPI").glob("*.json"))
        + sorted((VULNDATA / "osv" / "PyPI-GHSA").glob("*.json"))
    )
    return Scenario(
        facts=facts,
        image=image,
        data_dir=data_dir,
        npm_first=tuple(sorted(npm_first.glob("*.json"))),
        npm_held_back=held_back,
        pypi=pypi,
        scan=scan,
        report=json.loads(scan.stdout),
    )


def _expected_first(scenario: Scenario) -> dict[FindingKey, Expected]:
    facts = scenario.facts
    return {
        **_osv_expected(_records(scenario.pypi), facts.python, Version, canonicalize_name),
        **_osv_expected(_records(scenario.npm_first), facts.npm, semver_key, _npm_name),
        **_debian_expected([DSA_LIST.read_text()], facts),
    }


def _score(vector: str) -> float:
    if vector.startswith("CVSS:4"):
        return float(CVSS4(vector).base_score)
    return float(CVSS3(vector).scores()[0])


def _assert_findings(findings: list[dict[str, Any]], expected: dict[FindingKey, Expected]) -> None:
    reported = {(f["id"], f["package"]["name"]): f for f in findings}
    assert len(reported) == len(findings), "one finding per (vulnerability, package)"
    missed, false_alarms = expected.keys() - reported.keys(), reported.keys() - expected.keys()
    assert not missed and not false_alarms, f"missed {missed}, false alarms {false_alarms}"
    for key, finding in reported.items():
        want = expected[key]
        assert finding["package"]["version"] == want.version, key
        assert set(finding["aliases"]) == want.aliases, key
        assert set(finding["fixed_versions"]) == want.fixed, key
        assert finding["fix_available"] is bool(want.fixed), key
        if want.vectors:
            assert finding["cvss_vector"] in want.vectors, key
            assert finding["cvss_score"] == _score(finding["cvss_vector"]), key
        else:
            assert finding["cvss_score"] is None, key


def test_report_describes_the_pushed_image(scenario: Scenario) -> None:
    report, facts = scenario.report, scenario.facts
    assert report["image"]["reference"] == scenario.image.reference
    assert report["image"]["digest"] == scenario.image.digest
    assert report["image"]["platform"] == "linux/amd64"
    packages = {(p["name"], p["version"], p["type"]) for p in report["packages"]}
    assert {(d.name, d.version, "deb") for d in facts.debs} <= packages
    assert {(n, v, "python") for n, v in facts.python} <= packages
    assert {(n, v, "npm") for n, v in facts.npm} <= packages
    assert all(p["purl"] for p in report["packages"])


def test_findings_equal_the_independent_evaluation(scenario: Scenario) -> None:
    expected = _expected_first(scenario)
    # the image was built from versions with published advisories in every language
    assert {name for _, name in expected} >= {
        n for n, _ in scenario.facts.python + scenario.facts.npm
    }
    _assert_findings(scenario.report["vulnerabilities"], expected)
    assert all(f["source"] == "tollgate-osv" for f in scenario.report["vulnerabilities"])
    # merged across PYSEC and GHSA records: some finding carries both kinds of alias
    assert any(
        {a[:4] for a in f["aliases"]} >= {"GHSA", "PYSE"}
        for f in scenario.report["vulnerabilities"]
    )


def test_exit_code_follows_the_decision(scenario: Scenario) -> None:
    outcome = scenario.report["decision"]["outcome"]
    assert scenario.scan.returncode == (1 if outcome == "block" else 0), outcome


def _test_dsa(facts: ImageFacts) -> str:
    """A DSA list in the tracker's format for packages of this image (ids 9900+ are not
    real advisories): one fix above the installed source version, one below it (tilde)
    for a source version with an epoch, and one with a tilde in the installed version."""
    binaries: dict[tuple[str, str], int] = {}
    for deb in facts.debs:
        binaries[(deb.source, deb.source_version)] = (
            binaries.get((deb.source, deb.source_version), 0) + 1
        )
    widest = max(sorted(binaries), key=lambda s: binaries[s])
    epoch = next(s for s in sorted(binaries) if ":" in s[1])
    tilde = next(s for s in sorted(binaries) if "~" in s[1])
    entries = [
        (widest[0], f"{widest[1]}+tollgate1"),
        (epoch[0], f"{epoch[1]}~tollgate1"),
        (tilde[0], tilde[1].replace("~", "+tollgate1~", 1)),
    ]
    return "".join(
        f"[01 Jan 2099] DSA-99{n:02d}-1 {source} - tollgate test advisory\n"
        f"\t[{facts.codename}] - {source} {fixed}\n"
        for n, (source, fixed) in enumerate(entries)
    )


def test_db_update_reevaluates_stored_image_without_the_registry(
    scenario: Scenario, private_registry: LocalRegistry, tmp_path: Path
) -> None:
    digest = scenario.image.digest
    store = CatalogStore(make_engine(f"sqlite:///{scenario.data_dir / 'tollgate.db'}"))
    events_before = len(store.events(digest))
    private_registry.stop()  # re-evaluation must not need the registry
    npm_more = tmp_path / "npm-more"
    npm_more.mkdir()
    shutil.copy(scenario.npm_held_back, npm_more)
    dsa_more = tmp_path / "DSA-list"
    dsa_more.write_text(_test_dsa(scenario.facts))

    update = _tollgate(
        ["db", "update", "--source", f"npm={npm_more}", "--source", f"debian-dsa={dsa_more}"],
        scenario.data_dir,
    )

    assert update.returncode == 0, update.stderr
    before = _expected_first(scenario)
    after = {
        **before,
        **_osv_expected(
            _records([*scenario.npm_first, scenario.npm_held_back]),
            scenario.facts.npm,
            semver_key,
            _npm_name,
        ),
        **_debian_expected([DSA_LIST.read_text(), dsa_more.read_text()], scenario.facts),
    }
    gained = after.keys() - before.keys()
    assert any(vuln.startswith("DSA-99") for vuln, _ in gained)  # the Debian path is exercised
    assert "re-evaluated 1 images: 1 gained findings, 0 lost findings" in update.stdout
    new_events = store.events(digest)[events_before:]
    assert {(e.finding.id, e.finding.package.name) for e in new_events} == gained
    assert {e.kind for e in new_events} == {"new"}
    _assert_findings([f.model_dump(mode="json") for f in store.findings(digest)], after)
