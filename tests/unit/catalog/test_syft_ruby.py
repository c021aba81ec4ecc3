"""What :mod:`service.catalog.syft_ruby` reads natively and what it leaves to Syft.

Its results are compared with Syft's own in tests/integration/test_syft_ruby_parity.py;
here: the gemspecs it must leave to Syft (a line Syft's parser reads in a way it does not
reproduce, a value outside the plain forms, a name Syft's CPE rules treat specially),
which paths Syft's installed-gemspec glob matches, and Syft's own test vectors for the
CPE rules it follows (github.com/anchore/syft v1.18.1,
syft/pkg/cataloger/internal/cpegenerate/generate_test.go, Apache-2.0).
"""

from __future__ import annotations

import pytest

from service.catalog import syft_cpe, syft_ruby
from service.catalog.syft_ruby import Gemspec

PATH = "usr/local/bundle/specifications/x-1.0.gemspec"


def _read(*lines: str, path: str = PATH) -> list[tuple[str, str]] | None:
    content = "\n".join(("Gem::Specification.new do |s|", *lines, "end", "")).encode()
    found = syft_ruby.packages([Gemspec(path, "sha256:layer", content)])
    return None if found is None else [(p.name, p.version) for p in found]


@pytest.mark.parametrize(
    "lines",
    [
        ('s.name = "x"; s.version = "1.0"',),  # two fields match: Go picks one at random
        ('s.name = "x"', 's.version = "1.0"', 's.authors = ["\\uD83D\\uDE00"]'),  # surrogates
        ('s.name = "x"', 's.version = "1.0"', f's.files = ["{"f" * 60_000}"]'),  # a long line
        ('s.name = "x"',),  # Syft stubs the version
        ('s.name = "x"', 's.version = "1.0 beta"'),
        ('s.name = "x y"', 's.version = "1.0"'),
        ('s.name = "x"', 's.version = "1.0"', 's.licenses = ["GPL-2.0+"]'),
        ('s.name = "x"', 's.version = "1.0"', "s.licenses = ['MIT']"),  # Syft keeps the quotes
        ('s.name = "x"', 's.version = "1.0"', 's.licenses = ["Apache License, Version 2.0"]'),
        ('s.name = "redis"', 's.version = "1.0"'),  # Syft removes a product
        ('s.name = "sentry-raven"', 's.version = "1.0"'),  # Syft adds a product
        ('s.name = "jenkins-client"', 's.version = "1.0"'),
        ('s.name = "x"', 's.version = "1.0"', 's.authors = ["\\u0130lker"]'),  # Go lowercases İ
        ('s.name = "x"', 's.version = "1.0"', 's.authors = ["a*b"]'),
    ],
)
def test_gemspecs_syft_reads_its_own_way_are_left_to_syft(lines: tuple[str, ...]) -> None:
    assert _read(*lines) is None


def test_a_gemspec_that_is_not_utf8_is_left_to_syft() -> None:
    content = b'Gem::Specification.new do |s|\n  s.name = "x\xff"\n  s.version = "1"\nend\n'
    assert syft_ruby.packages([Gemspec(PATH, "sha256:layer", content)]) is None


def test_the_same_gem_in_two_places_is_two_packages_as_syft_reports_it() -> None:
    """As Syft reports rake twice on Debian with ruby-full (two installed gemspecs)."""
    content = b'  s.name = "x".freeze\n  s.version = "1.0"\n'
    other = "usr/lib/ruby/gems/3.1.0/specifications/x-1.0.gemspec"
    gemspecs = [Gemspec(PATH, "sha256:a", content), Gemspec(other, "sha256:b", content)]
    assert len(syft_ruby.packages(gemspecs) or []) == 2


@pytest.mark.parametrize(
    "lines",
    [('s.version = "1.0"',), ('s.name = "  "', 's.version = "1.0"'), ("s.summary = 'x'",)],
)
def test_a_gem_without_a_name_is_dropped_as_syft_does(lines: tuple[str, ...]) -> None:
    assert _read(*lines) == []


def test_the_last_line_a_field_matches_gives_its_value() -> None:
    lines = ('s.name = "x".freeze', 's.version = "0.9"', '  s.version = "1.0".freeze  ')
    assert _read(*lines) == [("x", "1.0")]


@pytest.mark.parametrize(
    ("path", "installed"),
    [
        ("usr/lib/ruby/gems/3.1.0/specifications/x-1.gemspec", True),
        ("usr/lib/ruby/gems/3.1.0/specifications/default/x-1.gemspec", True),
        ("usr/share/rubygems-integration/all/specifications/x-1.gemspec", True),
        ("specifications/x-1.gemspec", False),  # at the root: left to Syft
        ("app/x.gemspec", False),
        ("app/specifications/.gemspec", False),
        ("app/specifications/x.gemspec/y", False),
    ],
)
def test_installed_gemspecs_are_those_syfts_glob_matches(path: str, installed: bool) -> None:
    assert syft_ruby.is_installed_gemspec(path) is installed


def test_cpes_of_a_ruby_package_follow_syft() -> None:
    """Syft's TestGeneratePackageCPEs, case "ruby language"."""
    authors = ["someones name", "someones.elses.name@gmail.com"]
    cpes = syft_ruby._generated_cpes("name", "3.2", authors, "https://github.com/tom/ruby-name")
    vendors = ["name", "ruby-lang", "ruby", "ruby_lang", "someones-elses-name", "someones-name",
               "someones_elses_name", "someones_name", "tom"]  # fmt: skip
    assert set(cpes) == {f"cpe:2.3:a:{vendor}:name:3.2:*:*:*:*:*:*:*" for vendor in vendors}


def test_cpes_of_authors_with_unprintable_names_follow_syft() -> None:
    """Syft's TestGeneratePackageCPEs, case "regression: special characters in CPE should
    result in no generation"."""
    authors = ["jessica lynn suttles", "stephanie morillo", "david rodríguez", "andré medeiros"]
    cpes = syft_ruby._generated_cpes("bundler", "2.1.4", authors, "")
    vendors = ["bundler", "ruby-lang", "ruby", "ruby_lang", "jessica-lynn-suttles",
               "jessica_lynn_suttles", "stephanie-morillo", "stephanie_morillo"]  # fmt: skip
    assert set(cpes) == {f"cpe:2.3:a:{vendor}:bundler:2.1.4:*:*:*:*:*:*:*" for vendor in vendors}


def test_dictionary_cpes_of_a_gem_follow_syft() -> None:
    """Syft's TestDictionaryFindIsWired: openssl (a gem) from the dictionary."""
    assert set(syft_cpe.dictionary_cpes("rubygems", "openssl", "1.0.2k")) == {
        "cpe:2.3:a:ruby-lang:openssl:1.0.2k:*:*:*:*:*:*:*",
        "cpe:2.3:a:ruby-lang:openssl:1.0.2k:*:*:*:*:ruby:*:*",
    }
