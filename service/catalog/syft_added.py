"""The packages of evidence layers added to catalogued ones, read without Syft.

When the added layers hold only ``package.json`` files and ``*.dist-info`` directories,
:mod:`service.catalog.syft_npm` and :mod:`service.catalog.syft_python` give what
Syft 1.18.1 reports for them; anything either leaves to Syft, or any other file, leaves
the layers to Syft.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING

from service.catalog import syft_npm, syft_python

if TYPE_CHECKING:
    from service.catalog.model import Package
    from service.layers.increment import EvidenceListing

# Reads the named files of an evidence layer, each up to a number of bytes.
FileReader = Callable[[str, Collection[str], int], dict[str, bytes]]
_LIMIT = max(syft_npm.MAX_MANIFEST, syft_python.MAX_FILE) + 1


def added_packages(
    upper: Mapping[str, EvidenceListing], lower: Sequence[EvidenceListing], read: FileReader
) -> list[Package] | None:
    """The packages Syft reports for the ``upper`` evidence layers (digest -> listing) on
    the ``lower`` ones, or None when they are not only plain package metadata."""
    paths = [path for listing in upper.values() for path in listing.files]
    if len(set(paths)) != len(paths):
        return None  # a file that a later layer replaces
    directories = {path: syft_python.dist_info_directory(path) for path in paths}
    if not all(
        directory is not None or posixpath.basename(path) == "package.json"
        for path, directory in directories.items()
    ):
        return None  # another kind of evidence
    manifests: list[syft_npm.Manifest] = []
    grouped: dict[str, tuple[str, dict[str, bytes]]] = {}  # directory -> layer, files
    for digest, listing in upper.items():
        contents = read(digest, listing.files, _LIMIT)
        if contents.keys() != listing.files:
            return None  # a file the evidence holds as a link
        for path, content in contents.items():
            directory = directories[path]
            if directory is None:
                manifests.append(syft_npm.Manifest(path, digest, content))
                continue
            layer, files = grouped.setdefault(directory, (digest, {}))
            if layer != digest:
                return None  # one directory over two layers
            files[path[len(directory) + 1 :]] = content
    if _below(lower, grouped.keys()):
        return None  # a lower layer holds part of a directory Syft reads as one
    npm = syft_npm.packages(manifests)
    python = syft_python.packages(
        syft_python.Distribution(directory, layer, files)
        for directory, (layer, files) in grouped.items()
    )
    return None if npm is None or python is None else [*npm, *python]


def _below(lower: Sequence[EvidenceListing], directories: Collection[str]) -> bool:
    prefixes = tuple(f"{directory}/" for directory in directories)
    return bool(prefixes) and any(
        path.startswith(prefixes) for listing in lower for path in listing.files | listing.symlinks
    )
