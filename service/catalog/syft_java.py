"""The package Syft 1.18.1's java-archive-cataloger reports for a plain Java archive.

Read as ``syft/pkg/cataloger/java`` and ``cpegenerate/java.go`` (github.com/anchore/syft,
tag v1.18.1, Apache-2.0) read an archive holding one ``META-INF/MANIFEST.MF`` and no
Maven metadata: the name from Apache's bundle plugin fields, else the file name, else
the manifest; the version from the file name, else the manifest; the group ID (the
purl's namespace) from Syft's table of known artifacts (``data/syft-<version>-java-
groupids.json``), else the manifest's group-ID-like fields; CPEs from the name, the group
IDs and the manifest's vendor names; a missing version stubbed as ``UNKNOWN`` once the
purl and CPEs are made (Syft's compliance rule). An archive with a ``pom.properties`` or
``pom.xml``, a nested archive, a license in the manifest or a license file Syft would
scan, a name Syft's CPE rules single out, or anything unreadable is left to Syft.
"""

from __future__ import annotations

import functools
import io
import json
import posixpath
import re
import struct
import unicodedata
import zipfile
import zlib
from importlib import resources
from typing import IO

from packageurl import PackageURL

from service.catalog import syft_cpe
from service.catalog.model import Location, Package, PackageType
from service.catalog.syft_cpe import Candidate
from service.catalog.syft_native import (
    MAX_FILE,
    SYFT_VERSION,
    NotPlain,
    go_trim,
    scanned_lines,
)

# The archive kinds Syft's archive globs name, and the package type each is.
SUFFIXES = (".jar", ".war", ".ear", ".par", ".sar", ".nar", ".jpi", ".hpi", ".kar", ".lpkg")
_JENKINS = (".jpi", ".hpi")
_MANIFEST = "META-INF/MANIFEST.MF"
# The zip end-of-central-directory record (APPNOTE 4.3.16): signature, disk numbers,
# entries on this disk and in all, directory size and offset, comment length.
_END_SIGNATURE = b"PK\x05\x06"
_END_RECORD = struct.Struct("<4s4H2LH")
# Fat jars hold some 10-60 thousand entries; zipfile keeps ~0.5 KiB per entry.
_MAX_ENTRIES = 200_000
_MAX_DIRECTORY = 32 << 20
# licenses.FileNames(): files Syft scans for a license, in META-INF/ or at the root.
_LICENSE_FILES = frozenset(
    name.lower()
    for name in (
        "AL2.0", "COPYING", "COPYING.md", "COPYING.markdown", "COPYING.txt", "LGPL2.1",
        "LICENCE", "LICENCE.md", "LICENCE.markdown", "licence.txt", "LICENCE.txt", "LICENSE",
        "LICENSE.md", "LICENSE.markdown", "LICENSE.txt", "LICENSE-2.0.txt", "LICENCE-2.0.txt",
        "LICENSE-APACHE", "LICENCE-APACHE", "LICENSE-APACHE-2.0.txt", "LICENCE-APACHE-2.0.txt",
        "LICENSE-MIT", "LICENCE-MIT", "LICENSE.MIT", "LICENCE.MIT", "LICENSE.code",
        "LICENCE.code", "LICENSE.docs", "LICENCE.docs", "LICENSE.rst", "LICENCE.rst",
        "MIT-LICENSE", "MIT-LICENCE", "MIT-LICENSE.md", "MIT-LICENCE.md", "MIT-LICENSE.markdown",
        "MIT-LICENCE.markdown", "MIT-LICENSE.txt", "MIT-LICENCE.txt", "MIT_LICENSE",
        "MIT_LICENCE", "UNLICENSE", "UNLICENCE",
    )
)  # fmt: skip
# Names candidate_by_package_type.go adds products or vendors for, or removes them from.
_SPECIAL = frozenset(
    {"apache-cassandra", "elasticsearch", "gradle-enterprise", "handlebars", "log4j",
     "maven-builder-support", "maven-model", "maven-repository-metadata", "maven-resolver-api",
     "maven-resolver-connector-basic", "maven-resolver-impl", "maven-resolver-named-locks",
     "maven-resolver-spi", "maven-resolver-transport-file", "maven-resolver-transport-http",
     "maven-resolver-transport-wagon", "maven-resolver-util", "maven-settings",
     "maven-settings-builder", "maven-shared-utils", "spring-core", "spring-security-core",
     "springframework"}
)  # fmt: skip
_DOMAINS = ("com", "org", "net", "io", "be")
_PRIMARY_GROUP_FIELDS = (
    "Group-Id", "Bundle-SymbolicName", "Extension-Name", "Specification-Vendor",
    "Implementation-Vendor", "Implementation-Vendor-Id", "Implementation-Title",
    "Bundle-Activator",
)  # fmt: skip
_SECONDARY_GROUP_FIELDS = ("Automatic-Module-Name", "Main-Class", "Package")
_VENDOR_NAME_FIELDS = ("Specification-Vendor", "Implementation-Vendor")
_VERSION_FIELDS = (
    "Implementation-Version",
    "Specification-Version",
    "Plugin-Version",
    "Bundle-Version",
)
_NAME_FIELDS = ("Name", "Bundle-Name", "Short-Name", "Extension-Name", "Implementation-Title")
_FORBIDDEN_PRODUCT_FIELDS = frozenset({"plugin", "plugins", "client"})
_FORBIDDEN_VENDOR_FIELDS = frozenset({"plugin", "plugins"})
# archive_filename.go's patterns: Go's (?U) makes every quantifier lazy (and a "?"
# after one greedy), so each is written with its laziness swapped; [[:word:]] and \d
# are ASCII.
_VERSION_PART = r"(?:[0-9].*?|build[0-9]+?.*?|rc??[0-9]+?(?:^[A-Za-z].*?)??)"
_NAME_AND_VERSION = re.compile(
    r"^(?P<name>(?:[A-Za-z][0-9A-Za-z_.]*?(?:\.[A-Za-z][0-9A-Za-z_.]*?)*?-??)+?)"
    rf"(?:-(?P<version>{_VERSION_PART}))??$",
    re.IGNORECASE | re.ASCII,
)
_SECONDARY_VERSION = re.compile(
    r"(?:[._-](?P<version>(?:[0-9].*|build[0-9]+.*|rc?[0-9]+(?:^[A-Za-z].*)?)))?$", re.ASCII
)
# unicode categories that may start a Java identifier (isValidJavaIdentifier)
_IDENTIFIER_START = frozenset({"Lu", "Ll", "Lt", "Lm", "Lo", "Nl", "Sc", "Pc"})

_Section = list[tuple[str, str]]


@functools.cache
def _known_group_ids() -> dict[str, str]:
    path = resources.files("service.catalog") / "data" / f"syft-{SYFT_VERSION}-java-groupids.json"
    loaded: dict[str, str] = json.loads(path.read_text())
    return loaded


def is_archive(path: str) -> bool:
    """Whether Syft's java-archive-cataloger reads ``path`` (by its name)."""
    return path.endswith(SUFFIXES)


def package(path: str, layer: str, file: IO[bytes]) -> Package | None:
    """The package Syft reports for the archive at ``path`` (no leading slash) of the
    evidence layer ``layer``, read from ``file`` (seekable: only the zip directory and
    the manifest are read); None when it reports none."""
    _check_directory(file)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, ValueError, OSError) as error:
        raise NotPlain("not a zip archive Python reads") from error
    with archive:
        if _MANIFEST not in _entries(archive):  # each name once: _entries refuses twins
            return None  # no main package, and no Maven files to find others in
        manifest = _read_manifest(archive)
    main, sections = _manifest(manifest)
    if _get(main, "Weave-Classes") is not None:
        return None  # Syft leaves out instrumentation archives
    if any(_field(main, sections, field) for field in ("Bundle-License", "Plugin-License-Name")):
        raise NotPlain("a license in the manifest")
    file_name, file_version = _archive_filename(path)
    name = _select_name(main, file_name)
    if not name:
        return None  # Syft's compliance rule drops a package without a name
    version = file_version or next(
        (value for field in _VERSION_FIELDS if (value := _field(main, sections, field))), ""
    )
    if name in _SPECIAL or "jira" in name.lower() or "jenkins" in name.lower():
        raise NotPlain(f"{name} is treated specially by Syft's CPE rules")
    group_ids = _group_ids(name, main, sections)
    # the purl's group ID is the first candidate (groupIDFromJavaMetadata), else the name
    namespace = group_ids[0] if group_ids else name
    purl = PackageURL(type="maven", namespace=namespace, name=name, version=version or None)
    purl_text = purl.to_string()
    if "io.jenkins.plugins" in purl_text or "org.jenkins-ci.plugins" in purl_text:
        raise NotPlain("a Jenkins plugin")
    return Package(
        name=name,
        version=version or "UNKNOWN",  # Syft's compliance stub, after purl and CPEs
        type=PackageType.JAVA,
        purl=purl_text,
        cpes=_cpes(name, version, group_ids, main, sections),
        locations=(Location(path=f"/{path}", layer=layer),),
    )


def _check_directory(file: IO[bytes]) -> None:
    """Refuse an archive whose zip directory Python would hold in memory at great cost
    (zipfile reads it whole, an object per entry): more than :data:`_MAX_ENTRIES` entries
    or :data:`_MAX_DIRECTORY` bytes, as its end record says, or a Zip64 archive (whose
    record defers to another). Such archives are left to Syft."""
    size = file.seek(0, io.SEEK_END)
    tail_size = min(size, _END_RECORD.size + 0xFFFF)  # the record, then a comment
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    start = len(tail) - _END_RECORD.size  # where zipfile looks first (no comment)
    if start < 0 or not tail.startswith(_END_SIGNATURE, start):
        start = tail.rfind(_END_SIGNATURE)  # then, as zipfile does, the last one
    if start < 0 or len(tail) - start < _END_RECORD.size:
        return  # not a zip archive: zipfile says so
    fields = _END_RECORD.unpack_from(tail, start)
    entries, directory_size = fields[4], fields[5]
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        raise NotPlain("a Zip64 archive")
    if entries > _MAX_ENTRIES or directory_size > _MAX_DIRECTORY:
        raise NotPlain(f"a zip directory of {entries} entries, {directory_size} bytes")


def _entries(archive: zipfile.ZipFile) -> list[str]:
    """The archive's entry names; refuses what makes Syft read more than the manifest."""
    names = archive.namelist()
    if len(set(names)) != len(names):
        raise NotPlain("an entry twice")
    for name in names:
        base = posixpath.basename(name)
        if base in ("pom.properties", "pom.xml") or name.lower().endswith(SUFFIXES):
            raise NotPlain(f"{name}: Maven metadata or a nested archive")
        directory = posixpath.dirname(name)
        if base.lower() in _LICENSE_FILES and directory in ("", "META-INF"):
            raise NotPlain(f"{name}: a license file Syft would scan")
    return names


def _read_manifest(archive: zipfile.ZipFile) -> bytes:
    """The manifest's bytes; anything the zip reader refuses (a compression method it
    lacks, encryption, a corrupt stream, a manifest larger than the readers read) is
    left to Syft."""
    if archive.getinfo(_MANIFEST).file_size > MAX_FILE:
        raise NotPlain("a manifest larger than the readers read")
    try:
        return archive.read(_MANIFEST)
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, ValueError, OSError,
            EOFError, zlib.error, KeyError) as error:  # fmt: skip
        raise NotPlain("a manifest the zip reader cannot read") from error


def _manifest(content: bytes) -> tuple[_Section, list[_Section]]:
    """parseJavaManifest: the main section and the others, as Syft reads them."""
    lines = scanned_lines(content)
    sections: list[_Section] = []
    last_key = ""
    for line in lines:
        if not line:
            last_key = ""
        elif line[0] == " ":
            if last_key:
                key, value = sections[-1][-1]
                sections[-1][-1] = (key, value + go_trim(line))
        elif (colon := line.find(":")) != -1 and (key := go_trim(line[:colon])):
            if not last_key:
                sections.append([])
            sections[-1].append((key, go_trim(line[colon + 1 :])))
            last_key = key
    return (sections[0] if sections else []), sections[1:]


def _get(section: _Section, key: str) -> str | None:
    return next((value for name, value in section if name == key), None)


def _field(main: _Section, sections: list[_Section], key: str) -> str:
    """fieldValueFromManifest: the first non-empty value, main section first."""
    return next((value for section in (main, *sections) if (value := _get(section, key))), "")


def _archive_filename(path: str) -> tuple[str, str]:
    """newJavaArchiveFilename: the name and version its file name gives."""
    base = posixpath.basename(path)
    cleaned = base[: base.rfind(".")] if "." in base else base
    matched = _NAME_AND_VERSION.search(cleaned)
    name = (matched["name"] or "") if matched else ""
    version = (matched["version"] or "") if matched else ""
    if not version:
        secondary = _SECONDARY_VERSION.search(name)
        version = (secondary["version"] or "") if secondary else ""
        if version:
            name = name[: len(name) - len(version) - 1]
    return name, version


def _select_name(main: _Section, file_name: str) -> str:
    if "Apache Maven Bundle Plugin" in (_get(main, "Created-By") or ""):
        symbolic = _get(main, "Bundle-SymbolicName") or ""
        if symbolic and symbolic != (_get(main, "Implementation-Vendor-Id") or ""):
            return symbolic.split(".")[-1]
    if file_name:
        if "." not in file_name or file_name.startswith("org.eclipse."):
            return file_name
        fields = file_name.split(".")
        if all(field and unicodedata.category(field[0]) in _IDENTIFIER_START for field in fields):
            return fields[-1]
        return file_name
    return next((value for field in _NAME_FIELDS if (value := _get(main, field))), "")


def _starts_with_domain(value: str) -> bool:
    return value.startswith(_DOMAINS)


def _clean_group_id(value: str) -> str:
    return go_trim(value.partition(";")[0].partition("#")[0])


def _manifest_group_ids(
    main: _Section, sections: list[_Section], fields: tuple[str, ...]
) -> list[str]:
    """GetManifestFieldGroupIDs: every domain-like value of ``fields``, sorted."""
    found = [
        _clean_group_id(value)
        for field in fields
        for section in (main, *sections)
        if (value := _get(section, field)) is not None and _starts_with_domain(value)
    ]
    return sorted(found)


def _group_ids(name: str, main: _Section, sections: list[_Section]) -> list[str]:
    """GroupIDsFromJavaMetadata for an archive without Maven metadata: Syft's table of
    known artifacts, else the manifest's primary group-ID fields, else its secondary ones."""
    known = _known_group_ids().get(name)
    if known is not None:
        return [known]
    return _manifest_group_ids(main, sections, _PRIMARY_GROUP_FIELDS) or _manifest_group_ids(
        main, sections, _SECONDARY_GROUP_FIELDS
    )


def _cpes(
    name: str, version: str, group_ids: list[str], main: _Section, sections: list[_Section]
) -> tuple[str, ...]:
    """Syft's generated CPEs: products are the name and, without an artifact ID from
    Maven files, every group ID field past the second; vendors the group IDs whole
    (unvaried), their fields past the first, and the manifest's vendor names."""
    products = {name}
    vendors: set[Candidate] = set()
    for group_id in group_ids:
        vendors.add(Candidate(group_id, sub_selections=False, delimiter_variations=False))
        for index, raw in enumerate(group_id.split(".")):
            field = go_trim(raw)
            if field and index > 1 and field.lower() not in _FORBIDDEN_PRODUCT_FIELDS:
                products.add(field)
            if field and index > 0 and field.lower() not in _FORBIDDEN_VENDOR_FIELDS:
                vendors.add(Candidate(field))
    for field in _VENDOR_NAME_FIELDS:
        for section in (main, *sections):
            value = _get(section, field)
            if value is not None and not _starts_with_domain(value):
                vendors.add(Candidate(syft_cpe.person_name(value), sub_selections=False))
    return syft_cpe.generated(version, products, vendors)
