"""A layer that adds only installed ``*.gemspec`` files (and ``package.json`` files and
``*.dist-info`` directories) to an analysed base is catalogued without Syft
(:mod:`service.catalog.syft_ruby`), and the catalog is exactly what Syft reports for the
whole image: on every shape of gemspec the module reads (as RubyGems writes them, each
license it maps or keeps as written, authors with emails, dots and dashes as CPE vendors,
GitHub/GitLab and vendor-naming homepages, CPEs from Syft's dictionary) and on the
gemspecs Debian's Ruby packages install. Gemspecs the module leaves to Syft make the
layer go to Syft, with the same result."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.catalog import syft_native, syft_ruby
from tests.integration.test_syft_npm_parity import (
    NATIVE,
    SYFT,
    _as_syft_reports,
    _split_as_syft_reports,
)
from tests.integration.test_syft_python_parity import NPM_AND_PYTHON
from tests.support import rootfs
from tests.support.images import REPO_ROOT
from tests.support.layers import LayerEntries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

GEMS = "usr/local/bundle/specifications"
# libruby3.1 ships Ruby's default and bundled gems' specifications; the others are gems
# Debian packages (rack, sinatra, nokogiri: dictionary hits and GitHub homepages; diff-lcs,
# redis, grpc: licenses and names the module leaves to Syft).
DEBIAN = (
    "libruby3.1", "ruby-rack", "ruby-sinatra", "ruby-nokogiri", "ruby-activesupport",
    "ruby-i18n", "ruby-concurrent", "ruby-thor", "ruby-tzinfo", "ruby-addressable",
    "ruby-mime-types", "ruby-builder", "ruby-tilt", "ruby-net-ssh", "ruby-zeitwerk",
    "ruby-diff-lcs", "ruby-redis", "ruby-grpc",
)  # fmt: skip
DEBS = REPO_ROOT / ".cache" / "debian-gems"


def _gemspec(name: str, version: str, *lines: str, end: str = "\n") -> bytes:
    """A gemspec as RubyGems writes it when installing a gem."""
    return end.join(
        (
            "# -*- encoding: utf-8 -*-",
            f"# stub: {name} {version} ruby lib",
            "",
            "Gem::Specification.new do |s|",
            f'  s.name = "{name}".freeze',
            f'  s.version = "{version}"',
            "",
            '  s.required_rubygems_version = Gem::Requirement.new(">= 0".freeze) if '
            "s.respond_to? :required_rubygems_version=",
            '  s.require_paths = ["lib".freeze]',
            *(f"  {line}" for line in lines),
            '  s.rubygems_version = "3.3.15".freeze',
            '  s.summary = "A gem.".freeze',
            "",
            '  s.installed_by_version = "3.3.15" if s.respond_to? :installed_by_version',
            "end",
            "",
        )
    ).encode()


def _shapes() -> dict[str, bytes]:
    """One gemspec per shape the module reads natively."""
    entries: dict[str, bytes] = {}

    def add(name: str, version: str, *lines: str, at: str = GEMS, end: str = "\n") -> None:
        entries[f"{at}/{name}-{version}.gemspec"] = _gemspec(name, version, *lines, end=end)

    def licensed(*licenses: str) -> str:
        return "s.licenses = [" + ", ".join(f'"{value}".freeze' for value in licenses) + "]"

    for number, identifier in enumerate(syft_native.LICENSES):
        add(f"plain-{number}", "1.0.0", licensed(identifier))
        add(f"lower-{number}", "1.0.1", licensed(identifier.lower(), "MIT"))
        add(f"nodash-{number}", "1.0.2", licensed(identifier.replace("-", "")))
    for number, text in enumerate(syft_native.FREE_TEXT_LICENSES):
        if "," not in text:  # Syft splits the list at every comma
            add(f"free-text-{number}", "2.0", licensed(text))
    add("either", "2.0.0.pre", licensed("MIT OR Apache-2.0", "Ruby"))
    add(
        "authored",
        "1.2.3",
        's.authors = ["Jane Doe".freeze, "john.smith@example.com".freeze, '
        '"The Core-Team".freeze, "Andr\\u00E9 Arko".freeze]',
        's.email = ["jane@example.com".freeze]',
        's.files = ["lib/authored.rb".freeze, "README.md".freeze]',
        's.homepage = "https://github.com/Some-Org/authored".freeze',
        licensed("Ruby", "BSD-2-Clause"),
    )
    add("lab_hosted", "0.1", 's.homepage = "https://gitlab.com/group_x/lab".freeze')
    add("ruby-homed", "3.0", 's.homepage = "https://www.ruby-lang.org/en/".freeze')
    add("gnome-homed", "3.0", 's.homepage = "https://developer.gnome.org/x".freeze')
    add("elsewhere.io", "1.0.0.rc1", 's.homepage = "https://elsewhere.io".freeze')
    add("apache-thing", "1.0", 's.authors = ["Apache Team".freeze]')
    add("rack", "2.2.4", licensed("MIT"))  # in Syft's CPE dictionary
    add("openssl", "3.0.1", at=f"{GEMS}/default")  # two dictionary CPEs, one with a target
    add("Mixed_Case.Name", "10.2.0b1", "s.authors = []", end="\r\n")
    add("metadata", "1.0", 's.metadata = { "homepage_uri" => "https://example.com/x" }')
    entries[f"{GEMS}/nameless-1.0.gemspec"] = b'Gem::Specification.new do |s|\n s.version = "1"\n'
    entries[f"{GEMS}/quoted-1.0.gemspec"] = (
        b"Gem::Specification.new do |s|\n  s.name = 'quoted'\n  s.version = '1.0'\n"
        b"  s.homepage = 'https://github.com/q/quoted'\nend"
    )
    return entries


def _debian() -> tuple[LayerEntries, LayerEntries]:
    """The gemspecs of Debian's Ruby packages: those read natively, and the rest."""
    plain: dict[str, bytes] = {}
    other: dict[str, bytes] = {}
    for deb in rootfs.download(rootfs.candidates(DEBIAN), DEBS):
        for path, content in rootfs.data_files(deb, ".gemspec").items():
            if not syft_ruby.is_installed_gemspec(path):
                continue
            gemspec = syft_ruby.Gemspec(path, "layer", content)
            (plain if syft_ruby.packages([gemspec]) is not None else other)[path] = content
    return plain, other


def test_every_shape_read_natively_is_what_syft_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    derived = _as_syft_reports(tmp_path, caplog, _shapes(), NATIVE)
    found = {p.name for p in derived.packages if p.type.value == "gem"}
    assert {"authored", "plain-0", "free-text-0", "rack", "openssl", "quoted"} <= found
    assert "Mixed_Case.Name" in found


def test_debian_gemspecs_are_catalogued_as_syft_does_whichever_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain, other = _debian()
    assert len(plain) >= 100 and len(plain) >= 10 * len(other)
    _split_as_syft_reports(tmp_path, caplog, plain, other)


def test_a_gemspec_left_to_syft_sends_the_layer_to_syft(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upper = {
        f"{GEMS}/plain-1.0.gemspec": _gemspec("plain", "1.0"),
        f"{GEMS}/unmapped-1.0.gemspec": _gemspec(
            "unmapped", "1.0", 's.licenses = ["GPL-2.0+".freeze]'
        ),
    }
    _as_syft_reports(tmp_path, caplog, upper, SYFT)


def test_a_layer_of_gems_npm_and_python_packages_is_read_natively(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upper = {
        f"{GEMS}/rake-13.0.6.gemspec": _gemspec(
            "rake", "13.0.6", 's.homepage = "https://github.com/ruby/rake".freeze'
        ),
        **NPM_AND_PYTHON,
    }
    derived = _as_syft_reports(tmp_path, caplog, upper, NATIVE)
    assert {("gem", "rake"), ("npm", "left-pad"), ("python", "six")} <= {
        (p.type.value, p.name) for p in derived.packages
    }
