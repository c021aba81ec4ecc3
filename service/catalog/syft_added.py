"""The packages of evidence layers added to catalogued ones, read without Syft.

When the added layers hold only ``package.json`` files, ``*.dist-info`` and
``*.egg-info`` directories and installed ``*.gemspec`` files, :mod:`service.catalog.syft_npm`,
:mod:`service.catalog.syft_python` and :mod:`service.catalog.syft_ruby` give what
Syft 1.18.1 reports for them; anything one leaves to Syft, or any other file, leaves
the layers to Syft.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from service.catalog import syft_npm, syft_python, syft_ruby
from service.catalog.syft_native import MAX_FILE, NotPlain

if TYPE_CHECKING:
    from service.catalog.model import Package
    from service.layers.model import EvidenceListing

# Reads the named files of an evidence layer, each up to a number of bytes.
FileReader = Callable[[str, Collection[str], int], dict[str, bytes]]
_LIMIT = MAX_FILE + 1


def added_packages(
    upper: Mapping[str, EvidenceListing], lower: Sequence[EvidenceListing], read: FileReader
) -> list[Package] | None:
    """The packages Syft reports for the ``upper`` evidence layers (digest -> listing) on
    the ``lower`` ones, or None when they are not only plain package metadata."""
    paths = [path for listing in upper.values() for path in listing.files]
    if len(set(paths)) != len(paths):
        return None  # a file that a later layer replaces
    directories = {path: syft_python.metadata_directory(path) for path in paths}
    if not all(
        directory is not None
        or posixpath.basename(path) == "package.json"
        or syft_ruby.is_installed_gemspec(path)
        for path, directory in directories.items()
    ):
        return None  # another kind of evidence
    found = _read(upper, directories, read)
    if found is None or _below(lower, found.distributions.keys()):
        return None  # a link, or a directory Syft reads as one over several layers
    return found.packages()


@dataclass
class LanguageFiles:
    """Plain package metadata files, by the reader they go to."""

    manifests: list[syft_npm.Manifest] = field(default_factory=list)
    gemspecs: list[syft_ruby.Gemspec] = field(default_factory=list)
    # *.dist-info or *.egg-info directory -> its layer, its files (path under it -> content)
    distributions: dict[str, tuple[str, dict[str, bytes]]] = field(default_factory=dict)

    def add(self, path: str, layer: str, content: bytes, directory: str | None) -> bool:
        """Take a file of ``layer`` (``directory``: its metadata directory); False for
        a metadata directory another layer also holds files of."""
        if directory is None and posixpath.basename(path) == "package.json":
            self.manifests.append(syft_npm.Manifest(path, layer, content))
        elif directory is None:
            self.gemspecs.append(syft_ruby.Gemspec(path, layer, content))
        else:
            held_by, files = self.distributions.setdefault(directory, (layer, {}))
            if held_by != layer:
                return False
            files[path[len(directory) + 1 :]] = content
        return True

    def packages(self) -> list[Package] | None:
        """The packages Syft reports for these files; None when any is not plain."""
        npm = syft_npm.packages(self.manifests)
        python = syft_python.packages(
            syft_python.Distribution(directory, layer, files)
            for directory, (layer, files) in self.distributions.items()
        )
        ruby = syft_ruby.packages(self.gemspecs)
        if npm is None or python is None or ruby is None:
            return None
        return [*npm, *python, *ruby]


def language_file(path: str) -> bool | None:
    """Whether Syft's language catalogers read ``path`` as these readers do: True for a
    ``package.json``, a file of a ``*.dist-info`` or ``*.egg-info`` directory, an
    installed ``*.gemspec``; False for a ``*.gemspec`` they surely ignore; None for any
    other file. Raises NotPlain for a ``*.gemspec`` Syft's glob may or may not match."""
    name = posixpath.basename(path)
    if syft_python.metadata_directory(path) is not None or name == "package.json":
        return True
    if not name.endswith(".gemspec"):
        return None
    if syft_ruby.is_installed_gemspec(path):
        return True
    if "specifications" not in path.split("/")[:-1]:
        return False  # outside Syft's **/specifications/**/*.gemspec
    raise NotPlain(f"/{path}: a gemspec Syft's glob may read")


def _read(
    upper: Mapping[str, EvidenceListing],
    directories: Mapping[str, str | None],
    read: FileReader,
) -> LanguageFiles | None:
    """The files of ``upper`` (``directories`` gives each one's metadata directory), or
    None for a file the evidence holds as a link or a directory over two layers."""
    found = LanguageFiles()
    for digest, listing in upper.items():
        contents = read(digest, listing.files, _LIMIT)
        if contents.keys() != listing.files:
            return None
        for path, content in contents.items():
            if not found.add(path, digest, content, directories[path]):
                return None
    return found


def _below(lower: Sequence[EvidenceListing], directories: Collection[str]) -> bool:
    prefixes = tuple(f"{directory}/" for directory in directories)
    return bool(prefixes) and any(
        path.startswith(prefixes) for listing in lower for path in listing.files | listing.symlinks
    )
