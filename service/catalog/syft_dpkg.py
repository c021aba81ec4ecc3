"""The packages Syft 1.18.1's dpkg-db-cataloger reports for ``/var/lib/dpkg/status``.

Read as ``syft/pkg/cataloger/debian`` (github.com/anchore/syft, tag v1.18.1, Apache-2.0)
reads it: paragraphs of ``Key: value`` lines (a final line without its newline is
dropped, as Go's reader drops it), every paragraph with a ``Package`` a package,
whatever its ``Status``; the source package from ``Source: name (version)``; as
locations the status file, every ``info/NAME.*`` file, the ``md5sums`` and
``conffiles`` it reads (``NAME:ARCH`` first) and the package's
``/usr/share/doc/NAME/copyright`` (symlinks followed); as licenses the copyright file's
``License:`` first words and ``/usr/share/common-licenses/`` names; the CPEs Syft
generates from the name; the purl with the distro. Anything read otherwise by Syft
(a duplicated field, a continuation before any field, a field name in another case, a
name or version outside dpkg's forms) is left to Syft.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from packageurl import PackageURL

from service.catalog import syft_cpe
from service.catalog.model import Location, Package, PackageType
from service.catalog.syft_licenses import spdx_expression
from service.catalog.syft_native import (
    SCANNER_LINE,
    NotPlain,
    go_trim,
    scanned_lines,
    scanned_text,
    scanned_text_lines,
)
from service.layers.squash import SquashedTree

STATUS = "var/lib/dpkg/status"
INFO = "var/lib/dpkg/info"
# The fields read, and how Syft's decoder (mapstructure, which ignores case) names them
# once "-" is removed.
_FIELDS = {"package", "source", "version", "architecture", "conffiles"}
_NAME = re.compile(r"[a-z0-9][a-z0-9+.-]*")
_VERSION = re.compile(r"(?:[0-9]+:)?[0-9A-Za-z.+~-]+")
# Go's \S is [^\t\n\f\r ], narrower than Python's.
_SOURCE = re.compile(r"(?P<name>[^\t\n\f\r ]+)(?: \((?P<version>.*)\))?")
# at a line's start: after a newline (the first line is given one), a literal searched fast
_LICENSE = re.compile(r"\nLicense: ([^\t\n\f\r ]*)")
_COMMON_LICENSES = "/usr/share/common-licenses/"
_COMMON_LICENSE = re.compile(re.escape(_COMMON_LICENSES) + r"([0-9A-Za-z_.\-]+)")
# Names Syft's CPE filters single out (filter.go: jira clients, jenkins).
_FILTERED = ("jira", "jenkins")


@dataclass(frozen=True)
class Release:
    """What Syft reads of ``/etc/os-release`` for a purl."""

    id: str
    version_id: str
    id_like: tuple[str, ...]
    codename: str


@dataclass(frozen=True)
class Entry:
    """One paragraph of the status file, as far as a package needs it."""

    name: str
    version: str
    architecture: str
    source: str
    source_version: str
    conffiles: tuple[str, ...]


def entries(content: bytes) -> list[Entry]:
    """The packages of a status file."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotPlain("the status file is not UTF-8") from error
    lines = text.split("\n")[:-1]  # Go's reader drops a last line without its newline
    if any(len(line) > SCANNER_LINE for line in lines):
        raise NotPlain("a line near Go's scanner limit")
    found = []
    for fields in _paragraphs(lines):
        name = fields.get("package", "")
        if not name:
            continue
        version, source = fields.get("version", ""), fields.get("source", "")
        if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
            raise NotPlain(f"package {name!r} {version!r} outside dpkg's forms")
        source_version = ""
        if (matched := _SOURCE.search(source)) and matched["version"]:
            source, source_version = matched["name"], matched["version"]
        found.append(
            Entry(
                name=name,
                version=version,
                architecture=fields.get("architecture", ""),
                source=source,
                source_version=source_version,
                conffiles=tuple(_conffile_paths(scanned_text_lines(fields.get("conffiles", "")))),
            )
        )
    return found


def _paragraphs(lines: list[str]) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = ""
    for line in lines:
        if not line:
            if fields:
                yield fields
            fields, key = {}, ""
        elif line.startswith(" "):
            if not key:
                raise NotPlain("a continuation line before any field")
            fields[key] = f"{fields[key]}\n {go_trim(line)}"
        elif (colon := line.find(":")) > 0:
            raw = go_trim(line[:colon]).replace("-", "")
            if raw.lower() in _FIELDS and raw != raw.capitalize():
                raise NotPlain(f"field {raw!r} in another case")
            if raw.lower() in fields:
                raise NotPlain(f"field {raw!r} twice")
            key = raw.lower()
            fields[key] = go_trim(line[colon + 1 :])
            if key == "installedsize" and not (fields[key].isascii() and fields[key].isdigit()):
                raise NotPlain("an Installed-Size Syft reads otherwise")
        else:
            key = ""  # skipped by Syft, which then refuses a continuation of it
    if fields:
        yield fields


def info_files(tree: SquashedTree) -> dict[str, list[str]]:
    """The files of the ``info`` directory by each name Syft's ``info/NAME.*`` glob
    finds them for: every part of the file name before a dot."""
    found: dict[str, list[str]] = {}
    for path, _node in tree.files():
        directory, name = posixpath.split(path)
        if directory == INFO:
            dot = name.find(".")
            while dot != -1:
                found.setdefault(name[:dot], []).append(path)
                dot = name.find(".", dot + 1)
    return found


def package(
    entry: Entry, tree: SquashedTree, release: Release | None, info: dict[str, list[str]]
) -> tuple[Package, set[str]]:
    """The package Syft reports for ``entry`` of the status file in ``tree``, and the
    files it owns (absolute paths, as its md5sums and conffiles list them); ``info``:
    :func:`info_files` of the tree."""
    if any(word in entry.name for word in _FILTERED):
        raise NotPlain("a name Syft's CPE filters single out")
    status = tree.nodes[STATUS]
    locations = {Location(path=f"/{STATUS}", layer=status.layer)}
    for path in info.get(entry.name, ()):
        locations.add(Location(path=f"/{path}", layer=tree.nodes[path].layer))
    owned = {f"/{path.lstrip('/')}" for path in entry.conffiles}
    key = entry.name
    if entry.architecture not in ("", "all"):
        key = f"{entry.name}:{entry.architecture}"
    for suffix, parse in ((".md5sums", _md5sums), (".conffiles", _conffiles)):
        found = _info_file(tree, key, entry.name, suffix)
        if found is not None:
            path, content = found
            locations.add(Location(path=f"/{path}", layer=tree.nodes[path].layer))
            owned.update(parse(content))
    licenses: tuple[str, ...] = ()
    copyright_path = tree.resolve(f"usr/share/doc/{entry.name}/copyright")
    if copyright_path is not None:
        node = tree.nodes[copyright_path]
        locations.add(Location(path=f"/{copyright_path}", layer=node.layer))
        licenses = _licenses(_content(node.content, copyright_path))
    return (
        Package(
            name=entry.name,
            version=entry.version,
            type=PackageType.DEB,
            purl=_purl(entry, release),
            licenses=licenses,
            cpes=syft_cpe.generated(entry.version, [entry.name], ()),
            locations=tuple(sorted(locations, key=lambda loc: (loc.path, loc.layer or ""))),
            source_name=entry.source or entry.name,
            source_version=entry.source_version or entry.version,
        ),
        owned,
    )


def _info_file(tree: SquashedTree, key: str, name: str, suffix: str) -> tuple[str, bytes] | None:
    for candidate in dict.fromkeys((key, name)):
        path = tree.resolve(f"{INFO}/{candidate}{suffix}")
        if path is not None:
            return path, _content(tree.nodes[path].content, path)
    return None


def _content(content: bytes | None, path: str) -> bytes:
    if content is None:
        raise NotPlain(f"/{path} is too large")
    return content


def _md5sums(content: bytes) -> Iterator[str]:
    for line in scanned_lines(content):
        digest_and_path = line.split(" ", 1)
        if len(digest_and_path) == 2:
            yield "/" + go_trim(digest_and_path[1]).removeprefix("/")


def _conffiles(content: bytes) -> Iterator[str]:
    return _conffile_paths(scanned_lines(content))


def _conffile_paths(lines: list[str]) -> Iterator[str]:
    for line in lines:
        path = go_trim(line.strip(" \n").split(" ", 1)[0])
        if path:
            yield path if path.startswith("/") else f"/{path}"


def _licenses(content: bytes) -> tuple[str, ...]:
    """The licenses a copyright file names, as Syft's dpkg cataloger finds them line by
    line: a ``License:`` field's first word, and on a line that names files under
    ``/usr/share/common-licenses/``, the first. Two searches of the whole text find the
    same (neither pattern crosses a newline, where scanned lines end), without a step of
    Python per line: copyright files run to thousands."""
    text = scanned_text(content)
    found: set[str] = set()
    candidates = [matched[1] for matched in _LICENSE.finditer("\n" + text)]
    line_of_last = -2
    for matched in _COMMON_LICENSE.finditer(text):
        line = text.rfind("\n", 0, matched.start())
        if line != line_of_last:  # the first of its line
            candidates.append(matched[1])
        line_of_last = line
    for candidate in map(go_trim, candidates):
        if " or " in candidate or " and " in candidate:
            continue
        if candidate and candidate.lower() != "none":
            found.add(candidate.removesuffix("."))
    return tuple(sorted({spdx_expression(value) or value for value in found}))


def _purl(entry: Entry, release: Release | None) -> str | None:
    if release is None or (release.id != "debian" and "debian" not in release.id_like):
        return None
    qualifiers = {"arch": entry.architecture}
    if entry.source:
        upstream = entry.source
        if entry.source_version:
            upstream = f"{entry.source}@{entry.source_version}"
        qualifiers["upstream"] = upstream
    qualifiers["distro"] = "-".join(v for v in (release.id, release.version_id) if v)
    return PackageURL(
        type="deb",
        namespace=release.id,
        name=entry.name,
        version=entry.version,
        qualifiers={key: value for key, value in qualifiers.items() if value},
    ).to_string()


def is_dpkg_evidence(path: str) -> bool:
    """Whether a file is what this reader reads (or Syft's dpkg cataloger ignores):
    the status file, the ``info`` directory, a package's copyright file."""
    if path == STATUS or posixpath.dirname(path) == INFO:
        return True
    parts = path.split("/")
    return len(parts) == 5 and parts[:3] == ["usr", "share", "doc"] and parts[4] == "copyright"
