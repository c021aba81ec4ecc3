"""Version semantics per ecosystem and OSV range evaluation.

Each ecosystem has a *scheme* (one module each): a function turning a version string
into a key ordered as the ecosystem's own tool orders versions — dpkg, apk-tools, rpm,
pip (``packaging``), node-semver, golang.org/x/mod, Maven, NuGet, RubyGems — checked
against those tools' published test vectors (tests/fixtures/versions/).
"""

from service.vulndb.versions.base import MAX_VERSION_LENGTH, UnparseableVersionError, VersionKey
from service.vulndb.versions.ranges import CompiledRange, compile_range
from service.vulndb.versions.schemes import (
    Scheme,
    base_ecosystem,
    is_supported,
    parse_version,
    same_version,
    scheme_for,
)

__all__ = [
    "MAX_VERSION_LENGTH",
    "CompiledRange",
    "Scheme",
    "UnparseableVersionError",
    "VersionKey",
    "base_ecosystem",
    "compile_range",
    "is_supported",
    "parse_version",
    "same_version",
    "scheme_for",
]
