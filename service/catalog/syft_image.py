"""The catalog Syft 1.18.1 gives a whole evidence image, read without Syft when the
image holds only evidence the native readers read as Syft does.

That is: the distro from ``/etc/os-release`` (or ``/usr/lib/os-release``), the dpkg
database (:mod:`service.catalog.syft_dpkg`), plain language package metadata
(:mod:`service.catalog.syft_added`), plain Java archives (:mod:`service.catalog.syft_java`),
and files a binary cataloger looks at whose
packages Syft would drop — a file a binary classifier matches by name is dropped when a
dpkg package owns it (its md5sums or conffiles name a path that resolves to it:
``internal/relationship/binary``), an executable carrying only an ELF package note when
a dpkg package names its very path (``ownership-by-file-overlap``), a JVM's
``release`` file when a dpkg package names it (the JVM's package goes with it), and a
``python*`` file that is neither ELF nor named like an interpreter matches nothing (the
python classifier reads ELF imports and names such as ``python3.11``); evidence no
cataloger finds anything in (a text file named like a kernel image, a ``*.ko`` outside
``lib/modules``, another ``release`` file) is passed over. Anything else — another
package database, a Java archive with Maven metadata, a Go or Rust binary, a classifier
match no package owns, a symlink named as language metadata — leaves the image to Syft,
and says why in the log.
"""

from __future__ import annotations

import logging
import posixpath
import re
from dataclasses import dataclass, field

from service.catalog import syft_dpkg, syft_java
from service.catalog.model import Distro, Package
from service.catalog.syft_added import LanguageFiles, language_file
from service.catalog.syft_native import MAX_FILE, NotPlain, packages_of
from service.catalog.syft_python import metadata_directory
from service.layers import evidence
from service.layers.squash import Node, SquashedTree

logger = logging.getLogger(__name__)

_OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
_OTHER_RELEASE = ("etc/system-release-cpe", "etc/redhat-release", "bin/busybox")
_OS_RELEASE_LINE = re.compile(
    r"(?P<key>[A-Z_][A-Z0-9_]*)=(?:\"(?P<quoted>[^\"\\$`]*)\"|(?P<plain>[^\"'\\$`\s]*))"
)
_INTERPRETER = re.compile(r"(?:.*/|^)python[0-9]+(?:\.[0-9]+)+$")
# Syft's JVM cataloguer's glob, **/{java,jvm}/*/release.
_JVM_RELEASE = re.compile(r"(?:.*/)?(?:java|jvm)/[^/]+/release")
_KERNEL = re.compile(r"(?:kernel|vmlinux|vmlinuz)(?:-.*)?")
# The kernel module cataloguer's glob is **/lib/modules/**/*.ko.
_MODULES = re.compile(r"(?:.*/)?lib/modules/.*\.ko")


def image_catalog(tree: SquashedTree) -> tuple[Distro | None, list[Package]] | None:
    """The distro and packages Syft reports for the evidence image ``tree``, or None
    (logged) when it holds evidence these readers do not read as Syft does."""
    try:
        return _catalog(tree)
    except NotPlain as reason:
        logger.info("the evidence is left to Syft: %s", reason)
        return None


@dataclass
class _Sorted:
    """The evidence files, by what decides their packages."""

    language: LanguageFiles = field(default_factory=LanguageFiles)
    candidates: set[str] = field(default_factory=set)  # named like a classifier's binary
    notes: list[str] = field(default_factory=list)  # executables evidence by their content
    jvm_releases: list[str] = field(default_factory=list)
    archives: list[tuple[str, str]] = field(default_factory=list)  # Java: path, layer

    def take(self, path: str, node: Node) -> None:
        if path in _OS_RELEASE or syft_dpkg.is_dpkg_evidence(path):
            return
        reads = language_file(path)
        if reads:
            if node.size > MAX_FILE:
                raise NotPlain(f"/{path}: larger than the readers read")
            content = _whole(node, path)
            if not self.language.add(path, node.layer, content, metadata_directory(path)):
                raise NotPlain(f"/{path}: a directory of metadata over two layers")
        elif reads is False:
            return
        elif syft_java.is_archive(path):
            self.archives.append((path, node.layer))
        elif evidence.classifier_named(posixpath.basename(path)):
            self.candidates.add(path)
        elif evidence.executable(node.head) and not evidence.by_path(path):
            self.notes.append(path)
        elif _JVM_RELEASE.fullmatch(path):
            self.jvm_releases.append(path)
        elif _read_by_another_cataloger(path, node):
            raise NotPlain(f"/{path}: evidence the native readers do not read")


def _catalog(tree: SquashedTree) -> tuple[Distro | None, list[Package]] | None:
    release = _release(tree)
    found_files = _Sorted()
    for path, node in tree.files():
        found_files.take(path, node)
    language, candidates, notes = found_files.language, found_files.candidates, found_files.notes
    candidates |= _linked_candidates(tree)
    packages, owned = _dpkg(tree, release)
    _check_dropped(tree, candidates, notes, owned)
    for path in found_files.jvm_releases:
        if f"/{path}" not in owned:
            raise NotPlain(f"/{path}: a JVM installation no dpkg package owns")
    found = language.packages()
    java = packages_of(
        found_files.archives,
        lambda archive: _java_package(tree, *archive),
        lambda archive: archive[0],
    )
    if found is None or java is None:
        return None
    distro = None
    if release is not None:
        distro = Distro(id=release.id, version_id=release.version_id, codename=release.codename)
    return distro, [*packages, *found, *java]


def _java_package(tree: SquashedTree, path: str, layer: str) -> Package | None:
    with tree.nodes[path].open() as file:
        return syft_java.package(path, layer, file)


def _linked_candidates(tree: SquashedTree) -> set[str]:
    """The files classifier-named symlinks lead to; refuses a symlink in the dpkg
    database or named as language metadata (Syft would read its target under that
    name). A symlinked directory is harmless: what Syft finds through it has the same
    real path, and so is the same package."""
    found = set()
    for path, _target in tree.symlinks():
        if path.startswith(f"{syft_dpkg.INFO}/") or path == syft_dpkg.STATUS:
            raise NotPlain(f"/{path}: a symlink in the dpkg database")
        if language_file(path) is not None:
            raise NotPlain(f"/{path}: a symlink to language metadata")
        if syft_java.is_archive(path) and not syft_java.is_archive(tree.resolve(path) or ""):
            raise NotPlain(f"/{path}: a symlink named as a Java archive")
        if evidence.classifier_named(posixpath.basename(path)):
            real = tree.resolve(path)
            if real is not None:
                found.add(real)
    return found


def _dpkg(tree: SquashedTree, release: syft_dpkg.Release | None) -> tuple[list[Package], set[str]]:
    """The dpkg packages and every file they own."""
    status = tree.nodes.get(syft_dpkg.STATUS)
    if status is None:
        return [], set()
    if status.link is not None:
        raise NotPlain("the dpkg status file is a symlink")
    owned: set[str] = set()
    results: list[tuple[Package, set[str]]] = []
    info = syft_dpkg.info_files(tree)
    for entry in syft_dpkg.entries(_whole(status, syft_dpkg.STATUS)):
        results.append(syft_dpkg.package(entry, tree, release, info))
    packages = packages_of(results, lambda result: result[0], lambda _: syft_dpkg.STATUS)
    if packages is None:
        raise NotPlain("a dpkg package Syft reads otherwise")
    for _, files in results:
        owned |= files
    return packages, owned


def _check_dropped(
    tree: SquashedTree, candidates: set[str], notes: list[str], owned: set[str]
) -> None:
    """Refuse a file a binary cataloger could make a package of that Syft keeps."""
    # an owned path ends at a node of its own last name: it can lead to a candidate
    # only if that is the candidate's name or a symlink's, and only those are resolved
    names = {posixpath.basename(path) for path in candidates}
    names |= {posixpath.basename(path) for path, _ in tree.symlinks()}
    resolved = {tree.resolve(path) for path in owned if posixpath.basename(path) in names}
    for path in sorted(candidates | set(notes)):
        node = tree.nodes[path]
        if evidence.executable(node.head):
            content = _whole(node, path)
            if evidence.foreign_markers(content):
                raise NotPlain(f"/{path}: an executable another cataloger reads")
            if b".note.package" in content and f"/{path}" not in owned:
                raise NotPlain(f"/{path}: an ELF package note no dpkg package owns")
        if path in candidates and path not in resolved and not _matches_nothing(path, node):
            raise NotPlain(
                f"/{path}: a binary classifier may report a package no dpkg package owns"
            )


def _matches_nothing(path: str, node: Node) -> bool:
    """Whether the binary classifiers surely find nothing in a file: only the python
    one looks at it, and it is neither ELF nor named like an interpreter."""
    return (
        evidence.classifier_globs(posixpath.basename(path)) == ["python*"]
        and not node.head.startswith(b"\x7fELF")
        and not _INTERPRETER.match(f"/{path}")
    )


def _read_by_another_cataloger(path: str, node: Node) -> bool:
    """False for evidence Syft's catalogers surely find nothing in: a file named like a
    kernel image that is text (a kernel image has binary headers), a ``*.ko`` outside
    ``lib/modules``, a ``release`` file outside a JVM's directory."""
    name = posixpath.basename(path)
    if _KERNEL.fullmatch(name):
        content = node.content
        return content is None or b"\x00" in content
    if name.endswith(".ko"):
        return bool(_MODULES.fullmatch(path))
    return name != "release"


def _whole(node: Node, path: str) -> bytes:
    content = node.content
    if content is None:
        raise NotPlain(f"/{path} is too large")
    return content


def _release(tree: SquashedTree) -> syft_dpkg.Release | None:
    for path in _OS_RELEASE:
        real = tree.resolve(path)
        if real is None:
            continue
        values = _os_release(_whole(tree.nodes[real], real))
        if any(values.values()):
            if not values.get("ID"):
                raise NotPlain("an os-release without an ID")
            return syft_dpkg.Release(
                id=values["ID"],
                version_id=values.get("VERSION_ID", ""),
                id_like=tuple(values.get("ID_LIKE", "").split()),
                codename=values.get("VERSION_CODENAME", ""),
            )
    if any(tree.resolve(path) is not None for path in _OTHER_RELEASE):
        raise NotPlain("a release file other than os-release")
    return None


def _os_release(content: bytes) -> dict[str, str]:
    """``KEY=value`` lines in their plain forms (quoted without escapes, or bare)."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotPlain("os-release is not UTF-8") from error
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        matched = _OS_RELEASE_LINE.fullmatch(stripped)
        if matched is None:
            raise NotPlain("an os-release line outside the plain forms")
        values[matched["key"]] = (
            matched["quoted"] if matched["quoted"] is not None else matched["plain"]
        )
    return values
