"""Syft 1.18.1's ``spdxExpression`` of a single-token declared license as
:mod:`service.catalog.syft_licenses` reproduces it: Syft's SPDX table first, then
go-spdx's validation. Upstream vectors are copied as data, each group naming its file
(github.com/anchore/syft v1.18.1, Apache-2.0; github.com/github/go-spdx v2.3.2, MIT)."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from service.catalog import syft_licenses
from service.catalog.syft_licenses import spdx_expression
from service.catalog.syft_native import NotPlain


# Debian copyright short names and Syft's identifiers for them.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2+", "GPL-2.0-or-later"),
        ("BSD-3-clause", "BSD-3-Clause"),
        ("LGPL-2.1", "LGPL-2.1-only"),
        ("Artistic-2", "Artistic-2.0"),
        ("mit", "MIT"),
        (" MIT\t", "MIT"),
    ],
)
def test_syft_table_gives_the_identifier(value: str, expected: str) -> None:
    assert spdx_expression(value) == expected


# Syft's TestSPDXIDRecognition (internal/spdxlicense/license_test.go, v1.18.1), found IDs.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GPL-1-only", "GPL-1.0-only"),
        ("gpl1", "GPL-1.0-only"),
        ("gpl-1", "GPL-1.0-only"),
        ("GPL-2", "GPL-2.0-only"),
        ("GPL-2+", "GPL-2.0-or-later"),
        ("GPL-3.0.0-or-later", "GPL-3.0-or-later"),
        ("GPL-3-with-autoconf-exception", "GPL-3.0-with-autoconf-exception"),
        ("CC-by-nc-3-de", "CC-BY-NC-3.0-DE"),
        ("spencer-86.0.0", "Spencer-86"),
        ("unicode-dfs-2015.0.0", "Unicode-DFS-2015"),
        # Syft's TestLicenceListIDs (internal/spdxlicense/license_list_test.go), as keys.
        ("0bsd", "0BSD"),
        ("zpl2.1", "ZPL-2.1"),
        ("gpl2", "GPL-2.0-only"),
        ("gpl2+", "GPL-2.0-or-later"),
        ("gfdl1.2+", "GFDL-1.2-or-later"),
        # Syft's TestParseExpression (syft/license/license_test.go), single ID.
        ("mit", "MIT"),
    ],
)
def test_syft_vectors(value: str, expected: str) -> None:
    assert spdx_expression(value) == expected


# go-spdx's validation of single identifiers, on its own (Syft's table takes most of
# these first: see below).
@pytest.mark.parametrize(
    ("value", "valid"),
    [
        # go-spdx TestValidateLicenses (spdxexp/satisfies_test.go, v2.3.2).
        ("MIT", True),
        ("Apache-2.0", True),
        ("GPL-2.0", True),
        ("GPL-2.0-only", True),
        ("MTI", False),
        ("Apche-2.0", False),
        ("0xDEADBEEF", False),
        # go-spdx TestReadLicense (spdxexp/scan_test.go, v2.3.2): active, "-or-later" of an
        # active license, "-or-later" and "-only" cut off, deprecated, unknown.
        ("AGPL-1.0-or-later", True),
        ("Apache-1.0-or-later", True),
        ("ECL-1.0-only", True),
        ("LGPL-2.1", True),
        ("NON-EXISTENT-LICENSE", False),
        # go-spdx TestActiveLicense / TestDeprecatedLicense (spdxexp/license_test.go,
        # v2.3.2): lookups ignore case.
        ("APACHE-2.0", True),
        ("apACHe-2.0", True),
        ("eCos-2.0", True),
        ("ECOS-2.0", True),
        ("ecos-2.0", True),
        # Suffixes are matched case-sensitively (strings.HasSuffix).
        ("MIT-ONLY", False),
        ("Apache-2.0-OR-LATER", False),
        # Deprecated identifiers are looked up as written, not with a suffix cut off.
        ("eCos-2.0-only", False),
    ],
)
def test_go_spdx_vectors(value: str, valid: bool) -> None:
    assert syft_licenses._valid(value) is valid


# Tokens Syft's table lacks that go-spdx validates: kept as written.
@pytest.mark.parametrize(
    "value",
    ["Apache-1.0-or-later", "ECL-1.0-only", "mit-only", "apache-2.0-or-later"],
)
def test_go_spdx_valid_tokens_are_kept(value: str) -> None:
    assert syft_licenses._syft_ids().get(value.lower().replace("-", "")) is None
    assert spdx_expression(value) == value


# Syft's table comes first: go-spdx's valid identifiers come out as its identifiers.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("GPL-2.0", "GPL-2.0-only"),
        ("GPL-2.0+", "GPL-2.0-or-later"),
        ("ecos-2.0", "eCos-2.0"),
        ("BSD-2-Clause-FreeBSD", "BSD-2-Clause-Views"),
    ],
)
def test_syft_table_comes_before_go_spdx(value: str, expected: str) -> None:
    assert spdx_expression(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        # go-spdx TestValidateLicenses (spdxexp/satisfies_test.go, v2.3.2), invalid ones.
        "MTI",
        "Apche-2.0",
        "0xDEADBEEF",
        # go-spdx TestParse / TestReadLicense (parse_test.go, scan_test.go, v2.3.2).
        "NON-EXISTENT-LICENSE",
        # Debian short names that are neither Syft's nor SPDX's.
        "Expat",
        "public-domain",
        "Artistic",
        "By",
        "Permission",
        "BSD-3-clause-GENERIC",
        # Suffixes are matched case-sensitively, so these are not cut off.
        "MIT-ONLY",
        "Apache-2.0-OR-LATER",
        # Read as an operator first (case-sensitively), which no expression starts with.
        "ORACLE",
        "ANDROID",
        "WITHOUT",
        "OR",
    ],
)
def test_unknown_tokens_are_dropped(value: str) -> None:
    assert spdx_expression(value) == ""


def test_debian_names_are_in_no_list() -> None:
    lists = syft_licenses._go_spdx_lists()
    for value in ("Expat", "public-domain", "Artistic", "By", "Permission"):
        assert value.lower().replace("-", "") not in syft_licenses._syft_ids()
        assert all(value.lower() not in items for items in lists.values())


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        # go-spdx TestReadLicense / TestLicenseLookup: exceptions (spdxexp/*_test.go).
        "GPL-CC-1.0",
        "Bison-exception-2.2",
        "bison-exception-2.2-only",
        "Bison-exception-2.2-or-later",
        "LicenseRef-MIT-Style-1",
        "DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2",
        "Apache-1.0+",
        "MIT OR Apache-2.0",
        "İSC",
    ],
)
def test_unreproduced_values_are_not_plain(value: str) -> None:
    with pytest.raises(NotPlain):
        spdx_expression(value)


def test_data_is_ascii_and_go_spdx_lists_are_disjoint() -> None:
    # The lookups lowercase for Go's EqualFold, which only holds for ASCII identifiers.
    data = resources.files("service.catalog") / "data"
    version = syft_licenses.GO_SPDX_VERSION
    lists = json.loads((data / f"go-spdx-{version}-license-ids.json").read_text())
    assert sorted(lists) == ["deprecated", "exceptions", "licenses"]
    identifiers = [item for items in lists.values() for item in items]
    assert all(item.isascii() for item in identifiers)
    assert len({item.lower() for item in identifiers}) == len(identifiers)
    table = syft_licenses._syft_ids()
    assert all(key.isascii() and value.isascii() for key, value in table.items())


@pytest.mark.parametrize("value", ["GFDL-NIV-1.3+", "Expat+", "public-domain+"])
def test_an_unknown_identifier_with_a_plus_is_invalid(value: str) -> None:
    assert spdx_expression(value) == ""


@pytest.mark.parametrize("value", ["Apache-1.0+", "Classpath-exception-2.0+"])
def test_a_known_identifier_with_a_plus_is_left_to_syft(value: str) -> None:
    with pytest.raises(NotPlain):
        spdx_expression(value)


@pytest.mark.parametrize(
    "value",
    ["GFDL-1.3+-no-invariant", "GPL-2+MIT", "MIT++", "GPL_2", "LGPLv3+_or_GPLv2+", "MIT/X11"],
)
def test_identifiers_after_a_plus_without_an_operator_are_invalid(value: str) -> None:
    assert spdx_expression(value) == ""


def test_an_operator_after_a_plus_is_left_to_syft() -> None:
    with pytest.raises(NotPlain):
        spdx_expression("GPL-2.0+ANDMIT")


@pytest.mark.parametrize("value", ["Apache 2", "Apache License 2.0", "BSD style"])
def test_free_text_starting_with_an_unknown_word_is_invalid(value: str) -> None:
    assert spdx_expression(value) == ""


def test_an_expression_of_known_identifiers_is_left_to_syft() -> None:
    with pytest.raises(NotPlain):
        spdx_expression("MIT OR Apache-2.0")
