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

import functools
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from packageurl import PackageURL

from service.catalog.model import Location, Package, PackageType

logger = logging.getLogger(__name__)

SYFT_VERSION = "1.18.1"
MAX_MANIFEST = 1 << 20  # a larger package.json is left to Syft

# The fields of Syft's packageJSON struct: Go's JSON decoder matches keys to them without
# regard to case, so a key that differs from one only in case is left to Syft.
_FIELDS = frozenset(
    {"version", "latest", "author", "license", "licenses", "name", "homepage",
     "description", "dependencies", "repository", "private"}
)  # fmt: skip
_NAME = re.compile(r"(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*")
_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+-]*")
_ESCAPE = re.compile(r"[@/+]")  # what Syft's CPE printing escapes of the above
# Names Syft's CPE generation adds to, removes from or filters (candidate_by_package_type.go,
# filter.go); knownVendors ("apache") is applied below.
_SPECIAL = frozenset(
    {"hapi", "handlebars.js", "is-my-json-valid", "mustache", "redis", "php", "delegate",
     "docker"}
)  # fmt: skip
_URL_VENDOR = re.compile(r"(?:https|http|git)://(?:github|gitlab)\.com/([\w\-]*?)/.*", re.ASCII)
_URL_PREFIXES = (
    "https://www.gnu.org/", "https://developer.gnome.org/", "https://www.ruby-lang.org/",
    "https://llvm.org/", "https://www.isc.org/", "https://musl.libc.org/",
    "https://www.mozilla.org/", "https://www.x.org/", "https://w1.fi/",
)  # fmt: skip
# SPDX identifiers Syft maps to themselves (written in any case, with or without dashes);
# each is checked against Syft by the parity tests.
LICENSES = (
    "0BSD", "AGPL-3.0-only", "Apache-2.0", "Artistic-2.0", "BlueOak-1.0.0", "BSD-2-Clause",
    "BSD-3-Clause", "CC-BY-3.0", "CC-BY-4.0", "CC0-1.0", "EPL-2.0", "GPL-2.0-only",
    "GPL-3.0-only", "ISC", "LGPL-3.0-only", "MIT", "MIT-0", "MPL-2.0", "Python-2.0",
    "Unlicense", "WTFPL", "Zlib",
)  # fmt: skip
_LICENSE_IDS = {identifier.lower().replace("-", ""): identifier for identifier in LICENSES}
_EXPRESSION_TOKEN = re.compile(r"\(|\)|[^\s()]+")


class _NotPlain(Exception):
    """Syft would read this file in a way this module does not reproduce."""


@dataclass(frozen=True)
class Manifest:
    """A ``package.json`` in an evidence layer."""

    path: str  # in the image, without the leading slash
    layer: str  # the evidence layer's digest
    content: bytes


def packages(manifests: Iterable[Manifest]) -> list[Package] | None:
    """The packages Syft reports for ``manifests``; None when any is not plain."""
    found: dict[str, Package] = {}
    for manifest in manifests:
        try:
            package = _package(manifest)
            if package is not None and package.key in found:
                raise _NotPlain(f"{package.key} is found twice")
        except _NotPlain as reason:
            logger.info("/%s is left to Syft: %s", manifest.path, reason)
            return None
        if package is not None:  # none without a name: Syft drops it
            found[package.key] = package
    return list(found.values())


def _package(manifest: Manifest) -> Package | None:
    document = _document(manifest.content)
    name, version = _text(document, "name"), _text(document, "version")
    _check_shapes(document)
    if not name.strip():
        return None  # Syft's compliance rule drops a package without a name
    if not _NAME.fullmatch(name) or not _VERSION.fullmatch(version):
        raise _NotPlain("name or version outside the plain forms")
    urls = [_repository_url(document), _text(document, "homepage")]
    return Package(
        name=name,
        version=version,
        type=PackageType.NPM,
        purl=_purl(name, version),
        licenses=tuple(sorted(set(_licenses(document)))),
        cpes=_dictionary_cpes(name, version) or _generated_cpes(name, version, urls),
        locations=(Location(path=f"/{manifest.path}", layer=manifest.layer),),
    )


def _purl(name: str, version: str) -> str:
    scope, _, bare = name.rpartition("/")
    return PackageURL(type="npm", namespace=scope or None, name=bare, version=version).to_string()


def _document(content: bytes) -> dict[str, Any]:
    if len(content) > MAX_MANIFEST:
        raise _NotPlain("too large")
    try:
        document = json.loads(
            content.decode("utf-8"),
            object_pairs_hook=_unique_keys,
            parse_constant=_refuse_constant,
        )
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise _NotPlain("not one JSON document (or nested too deep)") from error
    if not isinstance(document, dict):
        raise _NotPlain("not an object")
    for key in document:
        if not key.isascii() or (key.lower() in _FIELDS and key not in _FIELDS):
            raise _NotPlain(f"key {key!r} would match a field without regard to case")
    return document


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key.lower() for key, _ in pairs}) != len(pairs):
        raise ValueError("a key twice")
    return dict(pairs)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key, "")
    if not isinstance(value, str):
        raise _NotPlain(f"{key} is not a string")
    return value


def _check_shapes(document: dict[str, Any]) -> None:
    """The fields Syft decodes but Tollgate does not use: a shape Go's decoder refuses
    (or reads in its own way) leaves the file to Syft."""
    _text(document, "description")
    if not isinstance(document.get("private", False), bool):
        raise _NotPlain("private is not a boolean")
    latest = document.get("latest", [])
    if not isinstance(latest, list) or not all(isinstance(tag, str) for tag in latest):
        raise _NotPlain("latest is not a list of strings")
    dependencies = document.get("dependencies", {})
    if not isinstance(dependencies, dict) or not all(
        isinstance(value, str) for value in dependencies.values()
    ):
        raise _NotPlain("dependencies is not an object of strings")
    author = document.get("author", "")
    if isinstance(author, dict):
        _string_object(author, "author")
    elif not isinstance(author, str):
        raise _NotPlain("author is neither a string nor an object")


def _string_object(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(field, str) and field == field.lower() and isinstance(text, str)
        for field, text in value.items()
    ):
        raise _NotPlain(f"{what} is not an object of lowercase keys and strings")
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
            raise _NotPlain("licenses is not a list")
        values = [_string_object(item, "licenses").get("type", "") for item in listed]
    else:
        return []
    return [_spdx(value) for value in values if value]


def _spdx(value: str) -> str:
    """What Syft makes of a declared license: an SPDX identifier it knows (its lookup
    trims, lowercases and drops dashes), or an expression of them kept as written."""
    identifier = _LICENSE_IDS.get(value.strip().lower().replace("-", ""))
    if identifier is not None:
        return identifier
    tokens = _EXPRESSION_TOKEN.findall(value)
    if (
        " ".join(tokens).replace("( ", "(").replace(" )", ")") == value
        and any(token in ("AND", "OR") for token in tokens)
        and all(token in ("AND", "OR", "(", ")") or token in LICENSES for token in tokens)
        and _balanced(tokens)
    ):
        return value
    raise _NotPlain(f"license {value!r}")


def _balanced(tokens: list[str]) -> bool:
    """Operands and operators alternate, parentheses nest."""
    depth, operand_expected = 0, True
    for part in tokens:
        if part == "(" and operand_expected:
            depth += 1
        elif part == ")" and not operand_expected and depth:
            depth -= 1
        elif part in ("AND", "OR") and not operand_expected:
            operand_expected = True
        elif part not in ("(", ")", "AND", "OR") and operand_expected:
            operand_expected = False
        else:
            return False
    return depth == 0 and not operand_expected


@functools.cache
def _dictionary() -> dict[str, list[str]]:
    path = resources.files("service.catalog") / "data" / f"syft-{SYFT_VERSION}-cpe-npm.json"
    loaded: dict[str, list[str]] = json.loads(path.read_text())
    return loaded


def _dictionary_cpes(name: str, version: str) -> tuple[str, ...]:
    """The CPEs Syft's dictionary lists for ``name``, with the package's version."""
    listed = _dictionary().get(name)
    if not listed:
        return ()
    cpes = []
    for cpe in listed:
        fields = cpe.split(":")
        if "\\" in cpe or len(fields) != 13:
            raise _NotPlain(f"dictionary CPE {cpe!r}")
        fields[5] = version
        cpes.append(fields)
    return _ordered(cpes)


def _generated_cpes(name: str, version: str, urls: list[str]) -> tuple[str, ...]:
    """Syft's CPEs for a package the dictionary does not list (cpegenerate)."""
    if name in _SPECIAL or "jira" in name or "jenkins" in name:
        raise _NotPlain(f"{name} is treated specially by Syft's CPE rules")
    products = _delimiter_variations({name})
    vendors = _delimiter_variations(set(products))
    vendors |= {sub for vendor in set(vendors) for sub in _sub_selections(vendor)}
    vendors |= {vendor for url in urls if url for vendor in _url_vendors(url)}
    vendors -= {"", "*"}
    if "apache" in vendors:
        vendors = {"apache"}
    return _ordered(
        [
            ["cpe", "2.3", "a", vendor, product, version, *"*" * 7]
            for product in products
            for vendor in vendors
        ]
    )


def _ordered(cpes: list[list[str]]) -> tuple[str, ...]:
    """CPEs in Syft's BySpecificity order — more fields given, then longer values, then
    the text — as Syft prints them: ``@``, ``/`` and ``+`` escaped. Whether Syft's last
    comparison sees the escapes is not known here: where it would matter, the order
    without them and with them must agree."""
    plain = sorted(cpes, key=lambda fields: _specificity(fields, ":".join(fields)))
    printed = [_printed(fields) for fields in plain]
    escaped = sorted(cpes, key=lambda fields: _specificity(fields, _printed(fields)))
    if printed != [_printed(fields) for fields in escaped]:
        raise _NotPlain("the order of the CPEs depends on their escapes")
    return tuple(printed)


def _printed(fields: list[str]) -> str:
    return ":".join(_escaped(value) for value in fields)


def _escaped(value: str) -> str:
    return _ESCAPE.sub(r"\\\g<0>", value)


def _specificity(fields: list[str], text: str) -> tuple[int, int, str]:
    part, vendor, product, version, target = (
        "" if fields[i] == "*" else fields[i] for i in (2, 3, 4, 5, 10)
    )
    weights = ((part, 2), (vendor, 3), (product, 4), (version, 1), (target, 1))
    score = sum(weight for value, weight in weights if value)
    return (-score, -len(part + vendor + product + version + target), text)


def _delimiter_variations(values: set[str]) -> set[str]:
    return values | {v.replace("-", "_") for v in values} | {v.replace("_", "-") for v in values}


def _sub_selections(value: str) -> list[str]:
    """``a-b_c`` -> ``a``, ``a-b``, ``a-b_c``: each prefix ending before a delimiter."""
    results: list[str] = []
    last = ""
    for raw in re.findall(r"[^-_]*[-_]|[^-_]+$", value):
        candidate = raw.strip("-_")
        if candidate:
            results.append(results[-1] + last + candidate if results else candidate)
        last = raw[-1]
    return results


def _url_vendors(url: str) -> set[str]:
    if url.startswith(_URL_PREFIXES):
        raise _NotPlain(f"{url} names a vendor by its prefix")
    matched = _URL_VENDOR.fullmatch(url)
    return set() if matched is None else {matched[1]}
