"""Syft's Ruby gems for installed ``*.gemspec`` files, without running Syft.

A push that adds a ``gem install``/``bundle install`` layer to an analysed base needs
only what Syft says of the new ``specifications/**/*.gemspec`` files, and one Syft run
costs 1.2-1.7 s before it reads a file (see :mod:`service.catalog.syft_npm`). For a
gemspec whose every line Syft reads is plain, this module gives the package Syft
1.18.1's ruby-installed-gemspec-cataloger reports — name, version, purl, licenses, CPEs
(from the ``rubygems`` part of Syft's CPE dictionary, else by Syft's CPE generation
rules, whose Ruby vendors are ``ruby-lang``, the authors and the homepage's owner),
location — following its line parser as of that release (github.com/anchore/syft, tag
v1.18.1, ``syft/pkg/cataloger/ruby/parse_gemspec.go``, Apache-2.0;
``data/syft-1.18.1-cpe-rubygems.json`` is the ``rubygems`` section of its
``cpe-index.json``). Parity tests compare it with Syft on real gemspecs.

Syft reads a gemspec line by line: trimmed, ``.freeze`` removed, ``\\uXXXX`` rendered,
then matched against one regular expression per field (name, version, homepage, files,
authors, licenses), the last line a field matches giving its value. It tries the fields
in Go's random map order and keeps the first that matches, so a line that two fields
match is left to Syft, as is what else this module does not reproduce
(:func:`packages` returns None): a file that is not UTF-8 or has a line near the
scanner's 64 KiB limit, an escape of a UTF-16 surrogate, a missing version, a name or
version outside the plain forms, a license that is neither one of the SPDX identifiers
Syft maps (or an AND/OR expression of them) nor one of the free texts it keeps, a name
Syft's CPE rules treat specially, an author whose lowercase Go and Python disagree on,
the same package twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from packageurl import PackageURL

from service.catalog import syft_cpe
from service.catalog.model import Location, Package, PackageType
from service.catalog.syft_cpe import Candidate
from service.catalog.syft_native import (
    MAX_FILE,
    PLAIN_VERSION,
    SCANNER_LINE,
    NotPlain,
    declared_license,
    go_trim,
    packages_of,
)
from service.layers import evidence

_SUFFIX = ".gemspec"
_SPACE = r"[\t\n\f\r ]"  # RE2's \s
_TEXT_FIELDS = ("name", "version", "homepage")
_LIST_FIELDS = ("files", "authors", "licenses")
_PATTERNS = {
    **{
        field: re.compile(rf".*\.{field}{_SPACE}*={_SPACE}*[\"']{{1}}(?P<{field}>.*)[\"']{{1}} *")
        for field in _TEXT_FIELDS
    },
    **{
        field: re.compile(rf".*\.{field}{_SPACE}*={_SPACE}*\[(?P<{field}>.*)] *")
        for field in _LIST_FIELDS
    },
}
_UNICODE = re.compile(r"\\u([0-9A-F]{4})")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# Names Syft's CPE generation adds products for or removes them from
# (candidate_by_package_type.go; its vendor additions for gems are all "ruby-lang", which
# every gem has); filter.go's jira and jenkins rules; knownVendors ("apache") is applied
# by syft_cpe.
_SPECIAL = frozenset(
    {"Arabic-Prawn", "bio-basespace-sdk", "cremefraiche", "html-sanitizer", "sentry-raven",
     "RedCloth", "VladTheEnterprising", "yajl-ruby", "redis", "grpc"}
)  # fmt: skip
_RUBY_VENDOR = Candidate("ruby-lang")


@dataclass(frozen=True)
class Gemspec:
    """An installed ``*.gemspec`` in an evidence layer."""

    path: str  # in the image, without the leading slash
    layer: str  # the evidence layer's digest
    content: bytes  # read up to MAX_FILE + 1


def is_installed_gemspec(path: str) -> bool:
    """Whether Syft's ``**/specifications/**/*.gemspec`` glob surely matches ``path``
    (a ``specifications`` directory below the root)."""
    *directories, name = path.split("/")
    return (
        name.endswith(_SUFFIX) and len(name) > len(_SUFFIX) and "specifications" in directories[1:]
    )


def packages(gemspecs: Iterable[Gemspec]) -> list[Package] | None:
    """The packages Syft reports for ``gemspecs``; None when any is not plain."""
    return packages_of(gemspecs, _package, lambda gemspec: gemspec.path)


def _package(gemspec: Gemspec) -> Package | None:
    if evidence.executable(gemspec.content[: evidence.EXECUTABLE_HEAD]):
        raise NotPlain("an executable another cataloger reads")
    fields = _fields(gemspec.content)
    name, version = fields.get("name", ""), fields.get("version", "")
    if not go_trim(name):
        return None  # Syft's compliance rule drops a package without a name
    if not _NAME.fullmatch(name) or not PLAIN_VERSION.fullmatch(version):
        raise NotPlain("name or version outside the plain forms")
    authors = _items(fields.get("authors", ""))
    return Package(
        name=name,
        version=version,
        type=PackageType.GEM,
        purl=PackageURL(type="gem", name=name, version=version).to_string(),
        licenses=tuple(
            sorted({declared_license(item) for item in _items(fields.get("licenses", "")) if item})
        ),
        cpes=syft_cpe.dictionary_cpes("rubygems", name, version)
        or _generated_cpes(name, version, authors, fields.get("homepage", "")),
        locations=(Location(path=f"/{gemspec.path}", layer=gemspec.layer),),
    )


def _fields(content: bytes) -> dict[str, str]:
    """The fields Syft's parseGemSpecEntries reads, each from the last line it matches
    (list fields as the text between the brackets)."""
    if len(content) > MAX_FILE:
        raise NotPlain("too large")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotPlain("not UTF-8") from error
    lines = text.split("\n")
    if not lines[-1]:
        lines.pop()  # bufio.ScanLines gives no empty line after the last newline
    fields: dict[str, str] = {}
    for raw in lines:
        if len(raw.encode()) >= SCANNER_LINE:
            raise NotPlain("a line near Syft's scanner buffer")
        line = _rendered(go_trim(raw.removesuffix("\r")).replace(".freeze", ""))
        matched = {
            field: value
            for field, pattern in _PATTERNS.items()
            # each pattern needs ".<field>" literally: most lines are passed over at once
            if f".{field}" in line and (value := _match(pattern, field, line))
        }
        if len(matched) > 1:
            raise NotPlain(f"a line that fields {sorted(matched)} all match")
        fields.update(matched)
    return fields


def _rendered(line: str) -> str:
    """``\\uXXXX`` escapes made the characters they stand for (renderUtf8)."""

    def character(escape: re.Match[str]) -> str:
        code = int(escape[1], 16)
        if 0xD800 <= code <= 0xDFFF:
            raise NotPlain("an escaped UTF-16 surrogate")
        return chr(code)

    return _UNICODE.sub(character, line)


def _match(pattern: re.Pattern[str], field: str, line: str) -> str:
    """What Syft's MatchNamedCaptureGroups gives for ``field``: the group of the first
    match where it is not empty."""
    value = ""
    for match in pattern.finditer(line):
        value = match[field]
        if value:
            break
    return value


def _items(listed: str) -> list[str]:
    """A list field's items as Syft's processList splits and trims them."""
    return [item.strip('" ') for item in listed.split(",")] if listed else []


def _generated_cpes(name: str, version: str, authors: list[str], homepage: str) -> tuple[str, ...]:
    """Syft's CPEs for a gem the dictionary does not list: the name is the product;
    vendors add ``ruby-lang``, each author (an email cut at ``@``) normalised as a person
    name, and the homepage's owner."""
    if name in _SPECIAL or "jira" in name or "jenkins" in name:
        raise NotPlain(f"{name} is treated specially by Syft's CPE rules")
    vendors = {_RUBY_VENDOR}
    vendors |= {
        Candidate(syft_cpe.person_name(author.split("@", maxsplit=1)[0]), sub_selections=False)
        for author in authors
    }
    if homepage:
        vendors |= syft_cpe.url_vendors(homepage)
    return syft_cpe.generated(version, {name}, vendors)
