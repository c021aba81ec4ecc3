"""Version ranges for denied packages, parsed once with ``univers``.

A range is either a ``vers:`` URI (``vers:npm/<4.17.21``) or an ecosystem-native
range (``<4.17.21``, ``>=1.0,<2.0``) read with the scheme of the purl's type.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from univers.version_range import RANGE_CLASS_BY_SCHEMES, VersionRange


@lru_cache(maxsize=1024)
def parse_range(text: str, purl: str) -> VersionRange:
    """The range ``text`` for packages of ``purl``'s type; ValueError says what is wrong."""
    try:
        if text.startswith("vers:"):
            return cast(VersionRange, VersionRange.from_string(text))  # type: ignore[no-untyped-call]
        scheme = purl.removeprefix("pkg:").partition("/")[0]
        range_class = RANGE_CLASS_BY_SCHEMES.get(scheme)
        if range_class is None:
            raise ValueError(
                f"no native version ranges for purl type {scheme!r}: write a vers: range, "
                f"e.g. vers:{scheme}/<1.2.3"
            )
        return cast(VersionRange, range_class.from_native(text))  # type: ignore[no-untyped-call]
    except Exception as error:  # univers raises assorted types for malformed input
        raise ValueError(f"cannot parse version range {text!r}: {error}") from error


def in_range(version: str, version_range: VersionRange) -> bool | None:
    """Whether ``version`` lies in the range; None when it cannot be compared."""
    try:
        version_class: Any = version_range.version_class  # univers annotates it as None
        return bool(version_class(version) in version_range)
    except Exception:  # an unparseable version for that scheme
        return None
