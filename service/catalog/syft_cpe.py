"""Syft 1.18.1's CPEs for a language package, as the native readers give them.

Syft takes a package's CPEs from its CPE dictionary when the dictionary lists the
package's name for its ecosystem (with the package's version put in), and generates
them otherwise (``syft/pkg/cataloger/internal/cpegenerate``): every product candidate
with every vendor candidate, where the products are the names an ecosystem derives from
the package name with their delimiter variations (``-`` and ``_`` swapped), and the
vendors are the products plus what the ecosystem adds (URL owners for npm, authors for
Python, both and ``ruby-lang`` for Ruby), each candidate varied and cut at its
delimiters unless its source forbids it.
A vendor ``apache`` replaces all others, and a CPE whose printed form is not valid is
dropped. The CPEs are then ordered by Syft's specificity rule. ``data/`` holds the
dictionary's sections (``syft-<version>-cpe-<ecosystem>.json``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from importlib import resources

from service.catalog.syft_native import SYFT_VERSION, NotPlain, go_trim

# The punctuation Syft's CPE printing escapes with a backslash ("-" and "." pass as they
# are); a field of anything else than these and [A-Za-z0-9._-] fails Syft's CPE regex.
_PUNCTUATION = "!\"#$%&'()+,/:;<=>@[]^`{|}~"
_ESCAPE = re.compile("[" + re.escape(_PUNCTUATION) + "]")
_VALID_FIELD = re.compile(r"(?:[A-Za-z0-9._-]|\\[" + re.escape(_PUNCTUATION) + "])+")
# Characters whose handling by Syft's candidate cleaning and CPE parsing (wildcards,
# escapes) is not reproduced here.
_UNREPRODUCED = re.compile(r"[\\*?]")
_QUOTES = "\"'`"
# A homepage or repository URL naming its owner, who is a vendor candidate.
_URL_VENDOR = re.compile(r"(?:https|http|git)://(?:github|gitlab)\.com/([\w\-]*?)/.*", re.ASCII)
# URLs whose prefix names their vendor (vendors_from_url.go; no prefix starts another).
_URL_PREFIX_VENDORS = {
    "https://www.gnu.org/": "gnu", "https://developer.gnome.org/": "gnome",
    "https://www.ruby-lang.org/": "ruby-lang", "https://llvm.org/": "llvm",
    "https://www.isc.org/": "isc", "https://musl.libc.org/": "musl-libc",
    "https://www.mozilla.org/": "mozilla", "https://www.x.org/": "x.org", "https://w1.fi/": "w1.fi",
}  # fmt: skip


@dataclass(frozen=True)
class Candidate:
    """A vendor guess, and which of Syft's variations its source allows."""

    value: str
    sub_selections: bool = True
    delimiter_variations: bool = True


@functools.cache
def _dictionary(ecosystem: str) -> dict[str, list[str]]:
    path = resources.files("service.catalog") / "data" / f"syft-{SYFT_VERSION}-cpe-{ecosystem}.json"
    loaded: dict[str, list[str]] = json.loads(path.read_text())
    return loaded


def dictionary_cpes(ecosystem: str, name: str, version: str) -> tuple[str, ...]:
    """The CPEs Syft's dictionary lists for ``name``, with the package's version."""
    listed = _dictionary(ecosystem).get(name)
    if not listed:
        return ()
    cpes = []
    for cpe in listed:
        fields = cpe.split(":")
        if "\\" in cpe or len(fields) != 13:
            raise NotPlain(f"dictionary CPE {cpe!r}")
        fields[5] = version
        cpes.append(fields)
    return _ordered(cpes)


def generated(
    version: str, products: Iterable[str], vendors: Iterable[Candidate]
) -> tuple[str, ...]:
    """Syft's generated CPEs for the product candidates ``products`` (before their
    delimiter variations) and the vendor candidates an ecosystem adds to them; an empty
    ``version`` is any (``*``)."""
    product_values = delimiter_variations(set(products)) - {"", "*"}
    candidates = {Candidate(product) for product in product_values} | set(vendors)
    candidates = {c for c in candidates if c.value not in ("", "*")}
    for candidate in candidates:
        _check_reproduced(candidate.value)
    candidates |= {
        replace(candidate, value=value)
        for candidate in candidates
        if candidate.delimiter_variations
        for value in delimiter_variations({candidate.value})
    }
    candidates |= {
        Candidate(sub)
        for candidate in candidates
        if candidate.sub_selections
        for sub in sub_selections(candidate.value)
    }
    vendor_values = {candidate.value for candidate in candidates}
    if "apache" in vendor_values:
        vendor_values = {"apache"}
    return _ordered(
        [
            ["cpe", "2.3", "a", vendor, product, version or "*", *"*" * 7]
            for product in product_values
            for vendor in vendor_values
            if _valid(vendor) and _valid(product) and (not version or _valid(version))
        ]
    )


def _check_reproduced(value: str) -> None:
    if _UNREPRODUCED.search(value) or (
        len(value) > 1 and value[0] in _QUOTES and value[-1] == value[0]
    ):
        raise NotPlain(f"CPE candidate {value!r}")


def _valid(value: str) -> bool:
    return bool(_VALID_FIELD.fullmatch(_escaped(value)))


def _ordered(cpes: list[list[str]]) -> tuple[str, ...]:
    """CPEs in Syft's BySpecificity order — more fields given, then longer values, then
    the text — as Syft prints them (punctuation escaped). Syft compares the text of its
    unescaped form; the order is also required not to change with the escapes, so that
    a slip in that reading would leave the package to Syft rather than misorder it."""
    plain = sorted(cpes, key=lambda fields: _specificity(fields, ":".join(fields)))
    printed = [_printed(fields) for fields in plain]
    escaped = sorted(cpes, key=lambda fields: _specificity(fields, _printed(fields)))
    if printed != [_printed(fields) for fields in escaped]:
        raise NotPlain("the order of the CPEs depends on their escapes")
    return tuple(printed)


def _printed(fields: list[str]) -> str:
    return ":".join(_escaped(value) for value in fields)


@functools.lru_cache(maxsize=8192)  # vendors, products and versions repeat across CPEs
def _escaped(value: str) -> str:
    return _ESCAPE.sub(r"\\\g<0>", value)


def _specificity(fields: list[str], text: str) -> tuple[int, int, str]:
    part, vendor, product, version, target = (
        "" if fields[i] == "*" else fields[i] for i in (2, 3, 4, 5, 10)
    )
    weights = ((part, 2), (vendor, 3), (product, 4), (version, 1), (target, 1))
    score = sum(weight for value, weight in weights if value)
    return (-score, -len(part + vendor + product + version + target), text)


def url_vendors(url: str) -> set[Candidate]:
    """The vendor ``url`` names by its prefix, else the owner a GitHub/GitLab ``url``
    names (as found, without variations)."""
    vendors = [vendor for prefix, vendor in _URL_PREFIX_VENDORS.items() if url.startswith(prefix)]
    if not vendors and (matched := _URL_VENDOR.fullmatch(url)):
        vendors = [matched[1]]
    return {Candidate(v, sub_selections=False, delimiter_variations=False) for v in vendors}


def person_name(person: str) -> str:
    """A person's name as Syft makes it a vendor candidate (normalizePersonName):
    lowercase, trimmed, ``-``, `` `` and ``.`` made ``_``, without a leading ``the_``."""
    if any(not c.isascii() and any(lower.isascii() for lower in c.lower()) for c in person):
        raise NotPlain(f"{person!r} lowercases differently in Go")
    name = go_trim(person.lower())
    for separator in ("-", " ", "."):
        name = name.replace(separator, "_")
    return name.removeprefix("the_")


def delimiter_variations(values: set[str]) -> set[str]:
    """Each value, with ``-`` made ``_`` and ``_`` made ``-``."""
    return values | {v.replace("-", "_") for v in values} | {v.replace("_", "-") for v in values}


def sub_selections(value: str) -> list[str]:
    """``a-b_c`` -> ``a``, ``a-b``, ``a-b_c``: each prefix ending before a delimiter."""
    results: list[str] = []
    last = ""
    for raw in re.findall(r"[^-_]*[-_]|[^-_]+$", value):
        candidate = raw.strip("-_")
        if candidate:
            results.append(results[-1] + last + candidate if results else candidate)
        last = raw[-1]
    return results
