"""Helpers for tests on the real advisory data in ../shared/vulndata."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

from packaging.version import InvalidVersion

from service.catalog.model import Catalog, Distro, ImageSubject, Package, PackageType
from tests.support.shared import VULNDATA


def osv_records(folder: str) -> Iterator[dict[str, Any]]:
    for path in sorted((VULNDATA / "osv" / folder).glob("*.json")):
        yield json.loads(path.read_text())


def make_catalog(
    packages: list[Package], distro: Distro | None = None, digest: str = "sha256:" + "0" * 64
) -> Catalog:
    return Catalog(
        image=ImageSubject(reference="example.test/app:1", digest=digest, platform="linux/amd64"),
        distro=distro,
        packages=tuple(sorted(packages, key=lambda p: p.key)),
        engine="test",
        engine_version="0",
    )


def pkg(name: str, version: str, type_: PackageType, **extra: Any) -> Package:
    return Package(name=name, version=version, type=type_, **extra)


Key = Callable[[str], Any]


def osv_evaluation(
    record: dict[str, Any], installed: str, key: Key, same_name: Callable[[str], bool]
) -> frozenset[str] | None:
    """Straightforward OSV evaluation, independent of the matcher: events in listed order
    form intervals. None when ``installed`` is not affected, else the fixed versions of the
    ranges that contain it (empty when no fix is known)."""
    version = key(installed)
    hit, fixes = False, set[str]()
    for affected in record.get("affected", []):
        if not same_name(affected["package"]["name"]):
            continue
        listed = []
        for text in affected.get("versions", []):
            try:
                listed.append(key(text))
            except (InvalidVersion, ValueError):
                continue
        hit = hit or version in listed
        for rng in affected.get("ranges", []):
            if rng["type"] == "GIT":
                continue
            inside, start = False, None
            for event in rng["events"]:
                if "introduced" in event:
                    start = event["introduced"]
                    continue
                if start is None:
                    continue
                low_ok = start == "0" or key(start) <= version
                if "fixed" in event and low_ok and version < key(event["fixed"]):
                    inside = True
                if "last_affected" in event and low_ok and version <= key(event["last_affected"]):
                    inside = True
                start = None
            if start is not None and (start == "0" or key(start) <= version):
                inside = True
            if inside:  # every later fix in the range is an upgrade target (e.g. 3.2.11, 4.0.1)
                hit = True
                fixes.update(
                    e["fixed"] for e in rng["events"] if "fixed" in e and version < key(e["fixed"])
                )
    return frozenset(fixes) if hit else None


def semver_key(text: str) -> tuple[Any, ...]:
    """npm/Go versions as integer tuples; a pre-release sorts before its release."""
    core, _, pre = text.removeprefix("v").partition("-")
    numbers = tuple(int(n) for n in core.split("."))
    return (numbers, 0 if pre else 1, pre)


def dpkg_lt(a: str, b: str) -> bool:
    """dpkg itself is the oracle for Debian version order."""
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0


def dsa_fixes(text: str, codename: str) -> dict[tuple[str, str], list[str]]:
    """(vulnerability id, source package) -> fixed versions announced for ``codename``, read
    from a security-tracker DSA/DLA list (the advisory id when an entry names no CVE)."""
    fixes: dict[tuple[str, str], list[str]] = {}
    advisory, cves = "", list[str]()
    for line in text.splitlines():
        if line.startswith("["):
            advisory, cves = line.split()[3], []
        elif line.strip().startswith("{"):
            cves = [c for c in line.strip(" \t{}").split() if c.startswith("CVE-")]
        elif line.strip().startswith(f"[{codename}] - "):
            _, _, source, fixed = line.split()[:4]
            if not fixed.startswith("<"):
                for vuln in cves or [advisory]:
                    fixes.setdefault((vuln, source), []).append(fixed)
    return fixes
