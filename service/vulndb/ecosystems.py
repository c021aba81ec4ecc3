"""Which advisory ecosystem and package name a catalog package is looked up under."""

from __future__ import annotations

import logging
import re

from packageurl import PackageURL

from service.catalog.model import Catalog, Distro, Package, PackageType
from service.vulndb.model import LookupKey, MatchablePackage, PackageRef
from service.vulndb.versions import base_ecosystem

logger = logging.getLogger(__name__)

_LANGUAGE_ECOSYSTEMS = {
    PackageType.PYTHON: "PyPI",
    PackageType.NPM: "npm",
    PackageType.GO: "Go",
    PackageType.JAVA: "Maven",
    PackageType.CARGO: "crates.io",
    PackageType.GEM: "RubyGems",
    PackageType.NUGET: "NuGet",
}

_PEP503 = re.compile(r"[-_.]+")


def language_ecosystem(package_type: str) -> str | None:
    """The advisory ecosystem of a language package type (``python`` → ``PyPI``)."""
    try:
        return _LANGUAGE_ECOSYSTEMS.get(PackageType(package_type))
    except ValueError:
        return None


def normalize_name(ecosystem: str, name: str) -> str:
    """The name advisories and packages are compared by (PEP 503 for PyPI)."""
    base = base_ecosystem(ecosystem)
    if base == "PyPI":
        return _PEP503.sub("-", name).lower()
    if base in ("NuGet", "Maven"):
        return name.lower()
    return name


def advisory_ecosystem(ecosystem: str) -> str:
    """The ecosystem an advisory is stored under, as :func:`distro_ecosystem` names a
    release: OSV's ``Ubuntu:22.04:LTS`` → ``Ubuntu:22.04``. Ubuntu Pro's ESM and FIPS
    streams (``Ubuntu:Pro:16.04:LTS``) stay apart: their fixes are not in the archive a
    standard image installs from."""
    return ecosystem.removesuffix(":LTS") if ecosystem.startswith("Ubuntu:") else ecosystem


def distro_ecosystem(distro: Distro | None) -> str | None:
    """``debian 12`` → ``Debian:12``; ``alpine 3.11.6`` → ``Alpine:v3.11``."""
    if distro is None or not distro.version_id:
        return None
    version = distro.version_id
    if distro.id == "debian":
        return f"Debian:{version.split('.')[0]}"
    if distro.id == "ubuntu":
        return f"Ubuntu:{version}"
    if distro.id == "alpine":
        return "Alpine:v" + ".".join(version.split(".")[:2])
    return None


def _maven_name(package: Package) -> str:
    if package.purl:
        purl = PackageURL.from_string(package.purl)
        if purl.namespace:
            return f"{purl.namespace}:{purl.name}"
    return package.name


def lookup_key(package: Package, distro: Distro | None) -> LookupKey | None:
    """``(ecosystem, normalised name, version)`` to match, or None when unsupported.

    OS packages are looked up by their source package in the distro release.
    """
    if package.type.is_os:
        ecosystem = distro_ecosystem(distro)
        if ecosystem is None:
            return None
        name = package.source_name or package.name
        return ecosystem, name, package.source_version or package.version
    ecosystem = language_ecosystem(package.type)
    if ecosystem is None:
        return None
    name = _maven_name(package) if package.type is PackageType.JAVA else package.name
    return ecosystem, normalize_name(ecosystem, name), package.version


def package_ref(package: Package) -> PackageRef:
    """How findings name ``package``."""
    return PackageRef(
        name=package.name, version=package.version, type=package.type.value, purl=package.purl
    )


def matchable(catalog: Catalog) -> list[MatchablePackage]:
    """The packages of ``catalog`` that have a lookup key, in catalog order."""
    return [
        MatchablePackage(key, package_ref(package), package.key)
        for package in catalog.packages
        if (key := lookup_key(package, catalog.distro)) is not None
    ]
