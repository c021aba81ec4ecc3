"""The version-comparison test vectors of each ecosystem's reference implementation,
read from the upstream files committed verbatim under tests/fixtures/versions/
(origins and licences: that folder's README.md).

Every reader yields :class:`Vector`: ``a op b`` must hold for the scheme of ``ecosystem``,
or ``op == "invalid"``: the reference refuses ``a``, so Tollgate must not evaluate it.
"""

from __future__ import annotations

import ast
import gzip
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

VECTORS = Path(__file__).parents[2] / "fixtures" / "versions"


@dataclass(frozen=True)
class Vector:
    suite: str  # upstream file the vector comes from
    ecosystem: str
    a: str
    op: str  # "<", "=", ">" or "invalid"
    b: str = ""

    def __str__(self) -> str:
        return f"{self.suite}: {self.a!r} {self.op} {self.b!r}"


_SIGN = {"-1": "<", "0": "=", "1": ">"}


def _ordered(suite: str, ecosystem: str, versions: list[str]) -> Iterator[Vector]:
    """Every pair of a list the reference sorts ascending (strictly)."""
    for low, high in itertools.combinations(versions, 2):
        yield Vector(suite, ecosystem, low, "<", high)


def osv_scalibr() -> Iterator[Vector]:
    """google/osv-scalibr semantic/testdata: ``a op b`` lines per ecosystem."""
    ecosystems = {
        "alpine": "Alpine",
        "debian": "Debian",
        "maven": "Maven",
        "nuget": "NuGet",
        "pypi": "PyPI",
        "redhat": "Red Hat",
        "rubygems": "RubyGems",
        "semver": "npm",
    }
    for path in sorted((VECTORS / "osv-scalibr").iterdir()):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as lines:
            for raw in lines:
                line = raw.rstrip("\n")
                if not line or line.startswith(("# ", "// ")):
                    continue
                a, op, b = line.split(" ")
                ecosystem = ecosystems[path.name.split("-")[0]]
                yield Vector(f"osv-scalibr/{path.name}", ecosystem, a, op, b)


def dpkg() -> Iterator[Vector]:
    """dpkg scripts/t/Dpkg_Version.t: the ``__DATA__`` lines ``a b result``."""
    text = (VECTORS / "dpkg" / "Dpkg_Version.t").read_text()
    for line in text.split("__DATA__", 1)[1].splitlines():
        if line.strip():
            a, b, result = line.split()
            yield Vector("dpkg/Dpkg_Version.t", "Debian", a, _SIGN[result], b)


def apk_tools() -> Iterator[Vector]:
    """apk-tools test/unit/version.data: ``a op b`` comparisons (fuzzy ``~`` matches and the
    version validity lines test apk's dependency syntax, not its order: not read)."""
    for line in (VECTORS / "apk-tools" / "version.data").read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) == 3 and fields[1] in ("<", "=", ">"):
            yield Vector("apk-tools/version.data", "Alpine", *fields)


def rpm() -> Iterator[Vector]:
    """rpm tests/rpmvercmp.at: ``RPMVERCMP(a, b, result)`` (the ``dnl`` ones are disabled)."""
    for line in (VECTORS / "rpm" / "rpmvercmp.at").read_text().splitlines():
        found = re.fullmatch(r"RPMVERCMP\(([^,]*), ([^,]*), (-?\d)\)", line)
        if found:
            a, b, result = found.groups()
            yield Vector("rpm/rpmvercmp.at", "Red Hat", a, _SIGN[result], b)


def packaging() -> Iterator[Vector]:
    """pypa/packaging tests/test_version.py: ``VERSIONS`` (sorted ascending) and the
    oversized versions it expects to be refused."""
    module = ast.parse((VECTORS / "packaging" / "test_version.py.txt").read_text())
    for node in module.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "VERSIONS":
            versions = ast.literal_eval(node.value)
            yield from _ordered("packaging/test_version.py", "PyPI", versions)
    for oversized in ("1" * 5000, "1.0a" + "1" * 5000):  # test_oversized_version_raises…
        yield Vector("packaging/test_version.py", "PyPI", oversized, "invalid")


def node_semver() -> Iterator[Vector]:
    """npm/node-semver test/fixtures: comparisons.js (first > second), equality.js."""
    for name, op in (("comparisons.js", ">"), ("equality.js", "=")):
        text = (VECTORS / "node-semver" / name).read_text()
        for a, b in re.findall(r"\[\s*'([^']*)',\s*'([^']*)'", text):
            yield Vector(f"node-semver/{name}", "npm", a, op, b)


def golang_mod() -> Iterator[Vector]:
    """golang/mod semver/semver_test.go: ``tests`` (ascending; equal when the canonical forms
    are), as TestCompare reads them; an empty canonical form marks an invalid version."""
    text = (VECTORS / "golang-mod" / "semver_test.go.txt").read_text()
    table = text.split("var tests = ", 1)[1].split("\n}\n", 1)[0]
    cases = re.findall(r'\{"([^"]*)", "([^"]*)"\}', table)
    valid = [(version, canonical) for version, canonical in cases if canonical]
    for version, canonical in cases:
        if not canonical:
            yield Vector("golang-mod/semver_test.go", "Go", version, "invalid")
    for (a, ca), (b, cb) in itertools.combinations(valid, 2):
        yield Vector("golang-mod/semver_test.go", "Go", a, "=" if ca == cb else "<", b)


def _java_strings(text: str) -> list[str]:
    return [ast.literal_eval(s) for s in re.findall(r'"(?:[^"\\]|\\.)*"', text)]


def maven() -> Iterator[Vector]:
    """apache/maven ComparableVersionTest.java: the sorted arrays, ``checkVersionsOrder``,
    ``checkVersionsEqual``, ``checkVersionsHaveSameOrder``, ``checkVersionsArrayEqual`` and
    ``compareTo`` assertions, resolving the test's local string variables; the MNG-7644
    loop is expanded as written."""
    suite, text = "maven/ComparableVersionTest.java", ""
    text = (VECTORS / "maven" / "ComparableVersionTest.java").read_text()
    for name in ("VERSIONS_QUALIFIER", "VERSIONS_NUMBER"):
        body = re.search(rf"{name} = \{{(.*?)\}};", text, re.S)
        assert body is not None
        yield from _ordered(suite, "Maven", _java_strings(body.group(1)))
    for method in re.split(r"\n    (?:public )?void ", text)[1:]:
        yield from _maven_method(suite, method)


def _maven_method(suite: str, method: str) -> Iterator[Vector]:
    names = dict(re.findall(r'String (\w+) = "([^"]*)";', method))
    names.update(
        re.findall(r'ComparableVersion (\w+) = new ComparableVersion\("([^"]*)"\);', method)
    )
    if "for (String x : new String[]" in method:  # testMng7644
        for x in _java_strings(method.split("for (String x : new String[]", 1)[1].split("}")[0]):
            yield Vector(suite, "Maven", f"1.0.0.{x}1", "<", f"1.0.0-{x}2")
            yield Vector(suite, "Maven", f"2-{x}", "=", f"2.0.{x}")
            yield Vector(suite, "Maven", f"2-{x}", "=", f"2.0.0.{x}")
            yield Vector(suite, "Maven", f"2.0.{x}", "=", f"2.0.0.{x}")
        return

    def value(token: str) -> str:
        token = token.strip()
        return ast.literal_eval(token) if token.startswith('"') else names[token]

    argument = r'("(?:[^"\\]|\\.)*"|\w+)'
    checks = "checkVersionsOrder|checkVersionsEqual|checkVersionsHaveSameOrder"
    for call, a, b in re.findall(rf"({checks})\({argument}, {argument}\)", method):
        op = "<" if call == "checkVersionsOrder" else "="
        yield Vector(suite, "Maven", value(a), op, value(b))
    for a, b, sign in re.findall(r"assertTrue\((\w+)\.compareTo\((\w+)\) ([<>=]=?) 0", method):
        yield Vector(suite, "Maven", names[a], {"<": "<", ">": ">", "==": "="}[sign], names[b])
    if "checkVersionsArrayEqual(arr)" in method:
        array = _java_strings(method.split("new String[] {", 1)[1].split("}")[0])
        for a, b in itertools.combinations(array, 2):
            yield Vector(suite, "Maven", a, "=", b)


def every_suite() -> Iterator[Vector]:
    for suite in (osv_scalibr, dpkg, apk_tools, rpm, packaging, node_semver, golang_mod, maven):
        yield from suite()
