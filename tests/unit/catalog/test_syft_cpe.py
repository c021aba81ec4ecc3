"""Syft's CPE rules as :mod:`service.catalog.syft_cpe` follows them: Syft's own test
vectors (github.com/anchore/syft v1.18.1, syft/pkg/cataloger/internal/cpegenerate/
generate_test.go, Apache-2.0) and its printing of CPE fields. The CPEs of whole packages
are compared with Syft's in the npm and Python parity tests."""

from __future__ import annotations

import pytest

from service.catalog import syft_cpe
from service.catalog.syft_cpe import Candidate
from service.catalog.syft_native import NotPlain


# Syft's Test_generateSubSelections
@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("jenkins", ["jenkins"]),
        ("jenkins-ci", ["jenkins", "jenkins-ci"]),
        ("jenkins--ci", ["jenkins", "jenkins-ci"]),
        ("jenkins_ci_tools", ["jenkins", "jenkins_ci", "jenkins_ci_tools"]),
        ("-jenkins", ["jenkins"]),
        ("jenkins_", ["jenkins"]),
        ("", []),
        ("-", []),
        ("_", []),
    ],
)
def test_sub_selections_follow_syft(field: str, expected: list[str]) -> None:
    assert sorted(syft_cpe.sub_selections(field)) == sorted(expected)


def test_punctuation_is_printed_escaped_and_unprintable_vendors_are_dropped() -> None:
    cpes = syft_cpe.generated(
        "1.0+x", {"name"}, {Candidate("a<b", sub_selections=False), Candidate("zoë")}
    )
    assert sorted(cpes) == sorted(
        ["cpe:2.3:a:name:name:1.0\\+x:*:*:*:*:*:*:*", "cpe:2.3:a:a\\<b:name:1.0\\+x:*:*:*:*:*:*:*"]
    )


@pytest.mark.parametrize("vendor", ["a*", "a?b", "a\\b", '"quoted"', "'q'"])
def test_candidates_syft_would_clean_or_parse_its_own_way_are_not_plain(vendor: str) -> None:
    with pytest.raises(NotPlain):
        syft_cpe.generated("1.0", {"name"}, {Candidate(vendor)})


# Syft's Test_candidateVendorsFromURL (vendors_from_url_test.go)
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", []),
        ("https://something-unknown.com/126374623876/12345", []),
        ("https://www.gnu.org/software/make", ["gnu"]),
        ("https://github.com/armadillo/abcxyz-12345", ["armadillo"]),
        ("https://github.com/1234-abc-xyz/hello", ["1234-abc-xyz"]),
        ("https://gitlab.com/armadillo/abcxyz-12345", ["armadillo"]),
        ("https://gitlab.com/1234-abc-xyz/hello", ["1234-abc-xyz"]),
        ("https://github.com/armadillo/abcxyz-12345/a/b/c/d/e/f/g", ["armadillo"]),
        ("git://github.com/abc/xyz.git", ["abc"]),
        ("http://github.com/abc/xyz.git", ["abc"]),
    ],
)
def test_url_vendors_follow_syft(url: str, expected: list[str]) -> None:
    vendors = syft_cpe.url_vendors(url)
    assert sorted(vendor.value for vendor in vendors) == expected
    assert not any(vendor.sub_selections or vendor.delimiter_variations for vendor in vendors)


# Syft's Test_normalizePersonName (utils_test.go)
@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("  Alex Goodman  ", "alex_goodman"),
        ("Alex Goodman", "alex_goodman"),
        ("Alex.Goodman", "alex_goodman"),
        ("AlexGoodman", "alexgoodman"),
        ("The Apache Software Foundation", "apache_software_foundation"),
    ],
)
def test_person_names_follow_syft(person: str, expected: str) -> None:
    assert syft_cpe.person_name(person) == expected


def test_a_person_name_go_lowercases_otherwise_is_not_plain() -> None:
    with pytest.raises(NotPlain):
        syft_cpe.person_name("\u0130lker")  # Python lowercases İ to i + a combining dot
