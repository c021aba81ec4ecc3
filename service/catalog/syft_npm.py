"""Syft's npm packages for ``package.json`` files, without running Syft.

A push that adds an ``npm install`` layer to an analysed base needs only what Syft says
of the new ``package.json`` files, yet one Syft run costs 1.2-1.7 s before it reads a
file (most of it building its license matcher): ten times reading the layer. For a
file whose every field Syft reads is plain, this module gives the package Syft 1.18.1
reports — name, version, purl, licenses, CPEs (from the npm part of Syft's CPE
dictionary, else by Syft's CPE generation rules), location — so that the catalog is the
same whichever computed it. It follows Syft's javascript package cataloger, CPE
generation and compliance rules as of that release (github.com/anchore/syft, tag
v1.18.1, Apache-2.0; ``data/syft-1.18.1-cpe-npm.json`` is the ``npm`` section of its
``cpe-index.json``) and is used only beside that Syft version; parity tests compare it
with Syft on real npm packages.

What Syft would read in a way this module does not reproduce leaves the whole set to
Syft (:func:`packages` returns None): a file that is not one JSON object, a field of an
unexpected type or cased differently, a name or version with characters other than
those npm gives them today, a license that is not one of the common SPDX
identifiers (or an AND/OR expression of them), a name Syft's CPE rules treat specially,
a dictionary entry with escaped characters, a missing version, the same package twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packageurl import PackageURL

from service.catalog import syft_cpe
from service.catalog.model import Location, Package, PackageType
from service.catalog.syft_native import (
    MAX_FILE,
    PLAIN_VERSION,
    NotPlain,
    go_json_object,
    packages_of,
    spdx,
)

# The fields of Syft's packageJSON struct: Go's JSON decoder matches keys to them without
# regard to case, so a key that differs from one only in case is left to Syft.
_FIELDS = frozenset(
    {"version", "latest", "author", "license", "licenses", "name", "homepage",
     "description", "dependencies", "repository", "private"}
)  # fmt: skip
_NAME = re.compile(r"(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*")
# Names Syft's CPE generation adds to, removes from or filters (candidate_by_package_type.go,
# filter.go); knownVendors ("apache") is applied by syft_cpe.
_SPECIAL = frozenset(
    {"hapi", "handlebars.js", "is-my-json-valid", "mustache", "redis", "php", "delegate",
     "docker"}
)  # fmt: skip


@dataclass(frozen=True)
class Manifest:
    """A ``package.json`` in an evidence layer."""

    path: str  # in the image, without the leading slash
    layer: str  # the evidence layer's digest
    content: bytes


def packages(manifests: Iterable[Manifest]) -> list[Package] | None:
    """The packages Syft reports for ``manifests``; None when any is not plain."""
    return packages_of(manifests, _package, lambda manifest: manifest.path)


def _package(manifest: Manifest) -> Package | None:
    document = _document(manifest.content)
    name, version = _text(document, "name"), _text(document, "version")
    _check_shapes(document)
    if not name.strip():
        return None  # Syft's compliance rule drops a package without a name
    if not _NAME.fullmatch(name) or not PLAIN_VERSION.fullmatch(version):
        raise NotPlain("name or version outside the plain forms")
    urls = [_repository_url(document), _text(document, "homepage")]
    return Package(
        name=name,
        version=version,
        type=PackageType.NPM,
        purl=_purl(name, version),
        licenses=tuple(sorted(set(_licenses(document)))),
        cpes=syft_cpe.dictionary_cpes("npm", name, version) or _generated_cpes(name, version, urls),
        locations=(Location(path=f"/{manifest.path}", layer=manifest.layer),),
    )


def _purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version).to_string()


def _document(content: bytes) -> dict[str, Any]:
    if len(content) > MAX_FILE:
        raise NotPlain("too large")
    return go_json_object(content, _FIELDS)


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise NotPlain(f"{key} is not a string")
    return value


def _check_shapes(document: dict[str, Any]) -> None:
    """The fields Syft decodes but Tollgate does not use: a shape Go's decoder refuses
    (or reads in its own way) leaves the file to Syft."""
    _text(document, "description")
    if not isinstance(document.get("private", False), bool):
        raise NotPlain("private is not a boolean")
    latest = document.get("latest", [])
    if not isinstance(latest, list) or not all(isinstance(tag, str) for tag in latest):
        raise NotPlain("latest is not a list of strings")
    dependencies = document.get("dependencies", {})
    if not isinstance(dependencies, dict) or not all(
        isinstance(value, str) for value in dependencies.values()
    ):
        raise NotPlain("dependencies is not an object of strings")
    author = document.get("author", "")
    if isinstance(author, dict):
        _string_object(author, "author")
    elif not isinstance(author, str):
        raise NotPlain("author is neither a string nor an object")


def _string_object(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(field, str) and field == field.lower() and isinstance(text, str)
        for field, text in value.items()
    ):
        raise NotPlain(f"{what} is not an object of lowercase keys and strings")
    return value


def _repository_url(document: dict[str, Any]) -> str:
    repository = document.get("repository", "")
    if isinstance(repository, str):
        return repository
    return _string_object(repository, "repository").get("url", "")


def _licenses(document: dict[str, Any]) -> list[str]:
    """The SPDX license expressions Syft reads (``license``, else ``licenses``)."""
    if "license" in document:
        declared = document["license"]
        if isinstance(declared, str):
            values = [declared]
        else:
            values = [_string_object(declared, "license").get("type", "")]
    elif "licenses" in document:
        listed = document["licenses"]
        if not isinstance(listed, list):
            raise NotPlain("licenses is not a list")
        values = [_string_object(item, "licenses").get("type", "") for item in listed]
    else:
        return []
    return [spdx(value) for value in values if value]


def _generated_cpes(name: str, version: str, urls: list[str]) -> tuple[str, ...]:
    """Syft's CPEs for a package the dictionary does not list: the name is the product,
    the owners of its GitHub/GitLab URLs are vendors (as found, without variations)."""
    if name in _SPECIAL or "jira" in name or "jenkins" in name:
        raise NotPlain(f"{name} is treated specially by Syft's CPE rules")
    vendors = {vendor for url in urls if url for vendor in syft_cpe.url_vendors(url)}
    return syft_cpe.generated(version, {name}, vendors)
