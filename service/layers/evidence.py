"""Which entries of a layer Syft's image catalogers read: the layer's *evidence*.

Kept per layer (see :mod:`service.layers.reader`), the evidence of an image's layers
composed as an image of the same number of layers gives Syft the same squashed
filesystem, as far as its catalogers can see, at a fraction of the size: package
databases and their file lists, language package metadata, archives, and the binaries
a cataloger can identify. Paths follow Syft 1.18's image catalogers (the globs in
``syft/pkg/cataloger/*``, ``syft/linux/identify_release.go`` and the binary
classifiers of ``syft/pkg/cataloger/binary/classifiers.go``); executables (ELF, PE,
Mach-O) are kept when they carry what the Go, Rust, ELF-package and GraalVM catalogers
look for.

Every symlink, whiteout and opaque marker is kept (they cost no content and decide what
the squashed tree holds). What evidence cannot be kept faithfully makes the layer
*not understood*, and its image is catalogued from its full layers instead: a Nix store
(its cataloger reads store directories), a hard link to a file that is not evidence.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from typing import IO

from service.layers import elf

# Executable formats Syft recognises by MIME type, told by their first bytes.
EXECUTABLE_MAGIC = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe")
EXECUTABLE_HEAD = 4
# What makes an executable evidence: Go build info, cargo-auditable's section, an ELF
# package note, GraalVM native-image's SBOM symbols.
_GO_BUILD_INFO = b"\xff Go buildinf:"
_GRAALVM_SYMBOL = b"__svm_version_info"
_EVIDENCE_SECTIONS = frozenset({b".go.buildinfo", b".dep-v0", b".note.package"})
_EXECUTABLE_MARKERS = (_GO_BUILD_INFO, b".dep-v0", b".note.package", _GRAALVM_SYMBOL)
_LONGEST_MARKER = max(len(marker) for marker in _EXECUTABLE_MARKERS)
_CHUNK = 1 << 20

_EXACT = frozenset(
    {
        "etc/os-release",
        "usr/lib/os-release",
        "etc/system-release-cpe",
        "etc/redhat-release",
        "bin/busybox",
        "etc/apk/repositories",
    }
)
_NAMES = frozenset(
    {
        "package.json",
        "installed.json",
        "conaninfo.txt",
        "DESCRIPTION",
        "pyvenv.cfg",
        "release",
        "VERSION",
        "kernel",
        "vmlinux",
        "vmlinuz",
    }
)
_SUFFIXES = (
    ".gemspec",
    ".rockspec",
    ".dll",
    ".exe",
    ".ko",
    ".egg-info",
    ".jar",
    ".war",
    ".ear",
    ".par",
    ".sar",
    ".nar",
    ".jpi",
    ".hpi",
    ".kar",
    ".lpkg",
    ".zip",
)
_PATTERNS = re.compile(
    r"""(?:^|.*/)(?:
        lib/dpkg/(?:status|status\.d/[^/]+|info/[^/]+)
      | lib/opkg/(?:status|info/[^/]+\.control)
      | usr/share/doc/[^/]+/copyright
      | lib/apk/db/installed
      | (?:var/lib|usr/share|usr/lib/sysimage)/rpm/(?:Packages|Packages\.db|rpmdb\.sqlite)
      | var/lib/rpmmanifest/container-manifest-2
      | var/lib/pacman/local/.+
      | var/db/pkg/[^/]+/[^/]+/[^/]+
      | [^/]*\.(?:dist-info|egg-info|DIST-INFO|EGG-INFO)/.+
      | php/\.registry/\.channel\.[^/]*/[^/]+\.reg
      | wp-content/plugins/[^/]+/[^/]+\.php
      | (?:kernel|vmlinux|vmlinuz)-[^/]*
    )$""",
    re.VERBOSE,
)
# Syft 1.18's binary classifiers: the basenames they match.
_CLASSIFIER_GLOBS = (
    "libpython*.so*", "arangosh", "bash", "beam.smp", "busybox", "cabal", "composer*",
    "consul", "curl", "dart", "erlexec", "fluent-bit", "gcc", "getopt", "ghc*", "go", "gzip",
    "haproxy", "helm", "httpd", "java", "jdb", "jq", "liberts_internal.a",
    "libjulia-internal.so", "libphp*.so", "libpypy*.so*", "libstd-????????????????.dylib",
    "libstd-????????????????.so", "lighttpd", "memcached", "mysql", "mariadb", "nginx", "node",
    "openssl", "perl", "php*", "php-fpm*", "postgres", "proftpd", "python*", "redis-server",
    "ruby", "sqlcipher", "stack", "swipl", "traefik", "wp", "xtrabackup", "xz", "zstd",
)  # fmt: skip
_CLASSIFIERS = re.compile("|".join(fnmatch.translate(glob) for glob in _CLASSIFIER_GLOBS))
NIX_STORE = re.compile(r"(?:^|.*/)nix/store/")


def by_path(path: str) -> bool:
    """Whether a file at ``path`` is evidence whatever its content."""
    if path in _EXACT:
        return True
    name = path.rpartition("/")[2]
    if name in _NAMES or name.endswith(_SUFFIXES):
        return True
    return bool(_PATTERNS.match(path)) or classifier_named(name)


def classifier_named(name: str) -> bool:
    """Whether one of Syft's binary classifiers looks at a file of this basename."""
    return bool(_CLASSIFIERS.fullmatch(name))


def classifier_globs(name: str) -> list[str]:
    """The globs of Syft's binary classifiers that look at a file of this basename."""
    return [glob for glob in _CLASSIFIER_GLOBS if fnmatch.fnmatchcase(name, glob)]


def foreign_markers(content: bytes) -> bool:
    """Whether an executable's bytes name anything a cataloger reads besides an ELF
    package note (Go build info, cargo-auditable's section, GraalVM's symbols)."""
    return any(marker in content for marker in _EXECUTABLE_MARKERS if marker != b".note.package")


def executable(head: bytes) -> bool:
    """Whether a file starting with ``head`` is an executable a cataloger would open."""
    return head.startswith(EXECUTABLE_MAGIC)


def by_content(chunks: Iterable[bytes]) -> bool:
    """Whether an executable is evidence (``chunks``: the file, read no further than the
    first marker found)."""
    tail = b""
    for chunk in chunks:
        seam = tail + chunk[: _LONGEST_MARKER - 1]  # a marker split between two chunks
        if any(marker in seam or marker in chunk for marker in _EXECUTABLE_MARKERS):
            return True
        tail = (seam if len(chunk) < _LONGEST_MARKER else chunk)[-_LONGEST_MARKER + 1 :]
    return False


def stored_executable(file: IO[bytes], size: int) -> bool:
    """Whether an executable is evidence, from a seekable copy of it (``size`` bytes): an
    ELF file by its sections (where Syft's catalogers look), others by their markers."""
    sections = elf.sections(file, size)
    if sections is None:
        file.seek(0)
        return by_content(iter(lambda: file.read(_CHUNK), b""))
    return (
        any(section.name in _EVIDENCE_SECTIONS for section in sections)
        or any(elf.contains(file, s, _GRAALVM_SYMBOL) for s in elf.string_tables(sections))
        or any(elf.contains(file, s, _GO_BUILD_INFO) for s in elf.writable(sections))
    )


def understood(path: str) -> bool:
    """False for an entry whose evidence cannot be kept faithfully."""
    return "nix/store/" not in path or not NIX_STORE.match(path)
