"""Whether upper evidence layers only add packages to what the layers below show.

An image that adds a layer of language packages to an analysed base (an ``npm install``
on a base image) would otherwise cost a Syft run over the whole composed evidence. When
the new layers' evidence is only self-contained package metadata — a ``package.json``,
a ``*.dist-info``/``*.egg-info`` directory, a ``*.gemspec``, a Java archive — none of it
where the layers below keep evidence (the same file, or a file of the same metadata
directory), none under a path the layers below make a symlink, and nothing deleted,
each of Syft's catalogers finds in the
composed tree exactly what it finds below plus what it finds in the new layers alone:
those catalogers read one file (or one directory) per package, and only binary packages
are dropped by overlap with what an OS package owns, and none of these are binaries.
Anything else (an OS package database, an executable, a whiteout, a file in a directory
a lower layer also holds) is not additive, and the whole evidence is catalogued.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.layers.model import EvidenceListing

_SELF_CONTAINED = re.compile(
    r"""(?:^|.*/)(?:
        package\.json
      | [^/]+\.gemspec
      | [^/]+\.(?:jar|war|ear|jpi|hpi)
      | [^/]+\.egg-info
      | [^/]+\.(?:dist-info|egg-info)/.+
    )$""",
    re.VERBOSE,
)


def _units(layer: EvidenceListing) -> frozenset[str]:
    """The files and metadata directories of ``layer`` a cataloger reads as one package."""
    return layer.files | frozenset(_unit(path) for path in layer.files)


def adds_only_packages(lower: Sequence[EvidenceListing], upper: Sequence[EvidenceListing]) -> bool:
    """Whether ``upper`` evidence layers, on top of ``lower``, only add self-contained
    packages that Syft finds the same whether it looks at them alone or composed."""
    if not upper or any(layer.deletes or layer.symlinks for layer in upper):
        return False
    added = [path for layer in upper for path in layer.files]
    if not added or not all(_SELF_CONTAINED.match(path) for path in added):
        return False
    below_units: frozenset[str] = frozenset().union(*(_units(layer) for layer in lower))
    below_links: frozenset[str] = frozenset().union(*(layer.symlinks for layer in lower))
    for path in added:
        if _unit(path) in below_units:
            return False
        if any(ancestor in below_links for ancestor in _ancestors(path)):
            return False
    return True


def _unit(path: str) -> str:
    """What a cataloger reads as one package: a file inside a ``*.dist-info`` or
    ``*.egg-info`` directory (at any depth, as wheels keep license files in
    ``licenses/``), the outermost such directory; any other file, itself."""
    parts = path.split("/")
    for depth, part in enumerate(parts[:-1], start=1):
        if part.endswith((".dist-info", ".egg-info")):
            return "/".join(parts[:depth])
    return path


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: count + 1]) for count in range(len(parts))]
