"""What a match could not audit: packages with no advisory data to match them against.

A package is *not evaluated* when its type has no advisory ecosystem, its distro release
is unknown, the database holds no advisories for its ecosystem, or its version cannot
be ordered by the ecosystem's rules. Such a package is neither clean nor vulnerable:
reports list it with the reason and the ``not_evaluated`` policy rule can act on it.
"""

from __future__ import annotations

from collections.abc import Collection

from service.catalog.model import Catalog, Package
from service.vulndb.ecosystems import distro_ecosystem, lookup_key, package_ref
from service.vulndb.model import NotEvaluated
from service.vulndb.versions import base_ecosystem, parse_version


def not_evaluated(catalog: Catalog, ecosystems: Collection[str]) -> tuple[NotEvaluated, ...]:
    """The packages of ``catalog`` that matching against a database holding advisories for
    ``ecosystems`` cannot audit, each with its reason (in catalog order)."""
    known = set(ecosystems)
    found = []
    for package in catalog.packages:
        reason = _reason(catalog, package, known)
        if reason is not None:
            found.append(NotEvaluated(package=package_ref(package), reason=reason))
    return tuple(found)


def _reason(catalog: Catalog, package: Package, known: set[str]) -> str | None:
    key = lookup_key(package, catalog.distro)
    if key is None:
        return _unsupported(catalog, package)
    ecosystem, _, version = key
    if ecosystem not in known:
        return f"no {ecosystem} advisories in the vulnerability database"
    try:
        parse_version(ecosystem, version)
    except ValueError:  # UnparseableVersionError, or a crafted version a scheme chokes on
        return f"version {_shown(version)} cannot be ordered by {base_ecosystem(ecosystem)} rules"
    return None


def _unsupported(catalog: Catalog, package: Package) -> str:
    if not package.type.is_os:
        return f"no advisory ecosystem for {package.type.value} packages"
    distro = catalog.distro
    if distro is not None and distro.version_id and distro_ecosystem(distro) is None:
        return f"no advisory feed for {distro.id} {distro.version_id}"
    return "the distribution release is unknown"


def _shown(version: str, limit: int = 40) -> str:
    """The version as quoted in a reason: a crafted 5,000-digit version stays readable."""
    return repr(version if len(version) <= limit else f"{version[:limit]}… ({len(version)} chars)")
