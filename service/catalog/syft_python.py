"""Syft's Python packages for ``*.dist-info`` and ``*.egg-info`` directories, without
running Syft.

A push that adds a ``pip install`` layer to an analysed base needs only what Syft says
of the new ``*.dist-info`` directories, and one Syft run costs 1.2-1.7 s before it
reads a file (see :mod:`service.catalog.syft_npm`). For a directory whose every file
Syft reads is plain, this module gives the package Syft 1.18.1's
python-installed-package-cataloger reports — the normalised name, version, purl,
license, CPEs (from the ``pypi`` part of Syft's CPE dictionary, else by Syft's CPE
generation rules, whose Python vendors are the Author and the Author-email's local
part), locations (``METADATA``, or an egg's ``PKG-INFO``, which Syft parses the same way;
``RECORD``, ``top_level.txt``, ``direct_url.json``) —
following its wheel/egg parser as of that release (github.com/anchore/syft, tag v1.18.1,
``syft/pkg/cataloger/python``, Apache-2.0; ``data/syft-1.18.1-cpe-pypi.json`` is the
``pypi`` section of its ``cpe-index.json``). Parity tests compare it with Syft on real
wheels.

What Syft would read in a way this module does not reproduce leaves the whole set to
Syft (:func:`packages` returns None): a ``METADATA`` header Syft's parser or its
mapstructure decoding reads in its own way (a continuation with no field before it, a
field cased so that two match, a field Syft would fail to decode, a line past its
scanner's buffer), a name or version outside the plain forms, a license that is neither
one of the SPDX identifiers Syft maps (or an AND/OR expression of them) nor one of the
free texts it is known to keep as written, a license file Syft would scan, a direct URL
with VCS information (a purl qualifier), an ``installed-files.txt``, a ``RECORD`` whose
first line is not a plain three-field row, a file that another cataloger would read, a
name Syft's CPE rules treat specially, an author whose lowercase Go and Python disagree
on, the same package twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from service.catalog import syft_cpe
from service.catalog.model import Location, Package, PackageType
from service.catalog.syft_cpe import Candidate
from service.catalog.syft_licenses import spdx_expression
from service.catalog.syft_native import (
    MAX_FILE,
    PLAIN_VERSION,
    SCANNER_LINE,
    NotPlain,
    check_go_keys,
    declared_license,
    go_json_object,
    go_trim,
    packages_of,
)
from service.layers import evidence

_METADATA, _PKG_INFO, _RECORD, _TOP_LEVEL, _DIRECT_URL = (
    "METADATA",
    "PKG-INFO",
    "RECORD",
    "top_level.txt",
    "direct_url.json",
)
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SEPARATORS = re.compile(r"[-_.]+")
# The fields of Syft's parsedData (PythonPackage squashed into it) that mapstructure fills
# from METADATA keys (their dashes dropped) matched without regard to case.
_TEXT_FIELDS = frozenset(
    {"License", "LicenseFile", "LicenseExpression", "Name", "Version", "Author",
     "AuthorEmail", "Platform", "SitePackagesRootPath", "RequiresPython"}
)  # fmt: skip
_LIST_FIELDS = frozenset({"RequiresDist", "ProvidesExtra"})  # kept as lists under these keys
_UNDECODABLE_FIELDS = frozenset({"LicenseLocation", "Files", "TopLevelPackages", "DirectURLOrigin"})
_FIELDS = {field.lower(): field for field in _TEXT_FIELDS | _LIST_FIELDS | _UNDECODABLE_FIELDS}
# Names Syft's CPE generation adds to, removes from or filters (candidate_by_package_type.go,
# filter.go); knownVendors ("apache") is applied by syft_cpe.
_SPECIAL = frozenset({"python-rrdtool", "cryptography", "redis", "kubernetes"})
# Vendors Syft's CPE generation adds for a name, after the candidates' variations.
_ADDED_VENDORS = {"pip": "pypa"}
_DIRECT_URL_FIELDS = frozenset({"url", "vcs_info", "archive_info", "dir_info"})
_DIRECT_URL_PARTS: dict[str, dict[str, type]] = {
    "vcs_info": {"commit_id": str, "vcs": str, "requested_revision": str},
    "archive_info": {"hash": str},
    "dir_info": {"editable": bool},
}


@dataclass(frozen=True)
class Distribution:
    """A ``*.dist-info`` directory of an evidence layer, with the files it holds there."""

    directory: str  # in the image, without the leading slash
    layer: str  # the evidence layer's digest
    files: Mapping[str, bytes]  # path under the directory -> content, read up to MAX_FILE + 1


def metadata_directory(path: str) -> str | None:
    """The ``*.dist-info`` or ``*.egg-info`` directory ``path`` is in, if it is in exactly
    one (where Syft would otherwise read a nested one)."""
    parts = path.split("/")
    metadata = [
        i for i, part in enumerate(parts[:-1]) if part.lower().endswith((".dist-info", ".egg-info"))
    ]
    if len(metadata) != 1 or not parts[metadata[0]].endswith((".dist-info", ".egg-info")):
        return None
    return "/".join(parts[: metadata[0] + 1])


def packages(distributions: Iterable[Distribution]) -> list[Package] | None:
    """The packages Syft reports for ``distributions``; None when any is not plain."""
    return packages_of(distributions, _package, lambda distribution: distribution.directory)


def _package(distribution: Distribution) -> Package | None:
    files = distribution.files
    for relative, content in files.items():
        if evidence.by_path(relative) or evidence.executable(content[: evidence.EXECUTABLE_HEAD]):
            raise NotPlain(f"{relative} is evidence for another cataloger")
    if "installed-files.txt" in files:
        raise NotPlain("an installed-files.txt")
    primary = _METADATA if distribution.directory.endswith(".dist-info") else _PKG_INFO
    if primary not in files:
        return None  # Syft looks for nothing else
    fields = _decoded(_headers(files[primary]))
    name, version = fields.get("Name", ""), fields.get("Version", "")
    if not name or name == "Python":
        return None  # Syft skips both
    if not _NAME.fullmatch(name) or not PLAIN_VERSION.fullmatch(version):
        raise NotPlain("name or version outside the plain forms")
    normalized = _SEPARATORS.sub("-", name).lower()
    sources = [primary, *(f for f in (_RECORD, _TOP_LEVEL, _DIRECT_URL) if f in files)]
    if _RECORD in files:
        _check_record(files[_RECORD])
    if _TOP_LEVEL in files:
        _check_lines(files[_TOP_LEVEL])
    if _DIRECT_URL in files:
        _check_direct_url(files[_DIRECT_URL])
    return Package(
        name=normalized,
        version=version,
        type=PackageType.PYTHON,
        purl=PackageURL(type="pypi", name=normalized, version=version).to_string(),
        licenses=_licenses(fields, files),
        cpes=syft_cpe.dictionary_cpes("pypi", normalized, version)
        or _generated_cpes(
            normalized, version, fields.get("Author", ""), fields.get("AuthorEmail", "")
        ),
        locations=tuple(
            Location(path=f"/{distribution.directory}/{source}", layer=distribution.layer)
            for source in sorted(sources)
        ),
    )


def _headers(content: bytes) -> dict[str, str | list[str]]:
    """The fields of METADATA's header as Syft's extractRFC5322Fields reads them: lines
    up to the first empty one after a field, ``Key: value`` (the key's dashes dropped,
    both trimmed; a key again replaces its value unless it is a plural one), lines
    starting with a space continuing the last field, other lines skipped."""
    lines = content.split(b"\n")
    tail = lines.pop()  # after the last newline: a line of its own when not empty
    truncated = len(content) > MAX_FILE
    if tail and not truncated:
        lines.append(tail)
    fields: dict[str, str | list[str]] = {}
    key = ""
    for raw in lines:
        if len(raw) >= SCANNER_LINE:
            raise NotPlain("a METADATA line past Syft's scanner buffer")
        try:
            line = raw.removesuffix(b"\r").decode("utf-8")
        except UnicodeDecodeError as error:
            raise NotPlain("METADATA is not UTF-8") from error
        if not line:
            if fields:
                return fields
        elif line.startswith(" "):
            if not key:
                raise NotPlain("a continuation line before any field")  # Syft fails
            fields[key] = _continued(fields[key], go_trim(line))
        elif (colon := line.find(":")) > 0:
            key = go_trim(line[:colon]).replace("-", "")
            value = go_trim(line[colon + 1 :])
            if key in _LIST_FIELDS:
                previous = fields.get(key, [])
                fields[key] = [*([previous] if isinstance(previous, str) else previous), value]
            else:
                fields[key] = value
    if truncated:
        raise NotPlain("METADATA too large")
    return fields


def _continued(value: str | list[str], line: str) -> str | list[str]:
    if isinstance(value, str):
        return f"{value}\n {line}"
    return [*value[:-1], f"{value[-1]}\n {line}"]


def _decoded(headers: dict[str, str | list[str]]) -> dict[str, str]:
    """The text fields mapstructure fills from ``headers``; a key it would match to a
    field it cannot decode into, or two keys matching one field, are not plain."""
    decoded: dict[str, str] = {}
    matched: set[str] = set()
    for key, value in headers.items():
        if not key.isascii():
            raise NotPlain(f"METADATA key {key!r} may fold to a field")
        field = _FIELDS.get(key.lower())
        if field is None:
            continue
        if field in matched or field in _UNDECODABLE_FIELDS:
            raise NotPlain(f"METADATA key {key!r}")
        matched.add(field)
        if field in _LIST_FIELDS and key != field:
            raise NotPlain(f"METADATA key {key!r} is not read as a list")  # Syft fails
        if isinstance(value, str):
            decoded[field] = value
    return decoded


def _check_record(content: bytes) -> None:
    """Syft lists RECORD as a location when it parses a row from it (else it looks for
    installed-files.txt): a first line of three fields without quotes is one."""
    first = content.split(b"\n", 1)[0].removesuffix(b"\r")
    if not first or b'"' in first or first.count(b",") != 2:
        raise NotPlain("RECORD's first line is not a plain row")


def _check_lines(content: bytes) -> None:
    if len(content) > MAX_FILE or any(len(line) >= SCANNER_LINE for line in content.split(b"\n")):
        raise NotPlain("top_level.txt past Syft's scanner buffer")


def _check_direct_url(content: bytes) -> None:
    """direct_url.json as Go decodes it; VCS information (a purl qualifier) is left to Syft."""
    if len(content) > MAX_FILE:
        raise NotPlain("direct_url.json too large")
    document = go_json_object(content, _DIRECT_URL_FIELDS)
    if "url" in document and not isinstance(document["url"], str):
        raise NotPlain("url is not a string")
    for part, kinds in _DIRECT_URL_PARTS.items():
        if part in document:
            _check_direct_url_part(document[part], kinds)
    if document.get("vcs_info", {}).get("vcs"):
        raise NotPlain("a VCS origin")


def _check_direct_url_part(value: Any, kinds: dict[str, type]) -> None:
    if not isinstance(value, dict):
        raise NotPlain("a direct_url.json part is not an object")
    check_go_keys(value, kinds)
    for key, kind in kinds.items():
        if key in value and not isinstance(value[key], kind):
            raise NotPlain(f"{key} is not a {kind.__name__}")


def _licenses(fields: dict[str, str], files: Mapping[str, bytes]) -> tuple[str, ...]:
    """Syft's license: License-Expression, else License, else the License-File (which
    Syft scans, so only its absence is plain)."""
    declared = fields.get("LicenseExpression") or fields.get("License")
    if declared:
        return (_declared(declared),)
    license_file = fields.get("LicenseFile", "")
    if license_file:
        parts = license_file.split("/")
        if any(part in ("", ".", "..") for part in parts) or "\\" in license_file:
            raise NotPlain(f"License-File {license_file!r}")
        if any(path == license_file or path.startswith(f"{license_file}/") for path in files):
            raise NotPlain("a license file Syft would scan")
    return ()


def _declared(value: str) -> str:
    """Syft keeps the value and adds what ``license.ParseExpression`` makes of it; a
    value of one line is read by :func:`spdx_expression` where the readers' own
    lookup does not know it."""
    try:
        return declared_license(value)
    except NotPlain:
        if "\n" in value:
            raise
        return spdx_expression(value) or value


def _generated_cpes(name: str, version: str, author: str, email: str) -> tuple[str, ...]:
    """Syft's CPEs for a package the dictionary does not list: products are the name and
    ``python-<name>``; vendors add the author and the author-email's local part
    (normalised as person names), each also as ``<vendor>project``/``<vendor>_project``."""
    if name in _SPECIAL or "jira" in name or "jenkins" in name:
        raise NotPlain(f"{name} is treated specially by Syft's CPE rules")
    vendors: set[Candidate] = set()
    if author:
        vendors |= _person_vendors(author, delimiter_variations=False)
    if email:
        vendors |= _person_vendors(email.split("@", maxsplit=1)[0], delimiter_variations=True)
    if name in _ADDED_VENDORS:
        vendors.add(
            Candidate(_ADDED_VENDORS[name], sub_selections=False, delimiter_variations=False)
        )
    products = {name} if name.startswith("python") else {name, f"python-{name}"}
    return syft_cpe.generated(version, products, vendors)


def _person_vendors(person: str, *, delimiter_variations: bool) -> set[Candidate]:
    name = syft_cpe.person_name(person)
    vendors = {Candidate(name, sub_selections=False, delimiter_variations=delimiter_variations)}
    if not name.endswith("project"):
        vendors |= {
            Candidate(f"{name}{suffix}", sub_selections=False, delimiter_variations=False)
            for suffix in ("project", "_project")
        }
    return vendors
