"""Version orderings per ecosystem and OSV range semantics."""

from __future__ import annotations

import random
import re
import shutil
import subprocess

import pytest

from service.vulndb.records import Advisory, RangeEvent, VersionRange
from service.vulndb.versions import parse_version, scheme_for
from tests.unit.vulndb.realdata import VULNDATA


@pytest.mark.parametrize(
    ("ecosystem", "low", "high"),
    [
        ("Debian:12", "1.0~rc1-1", "1.0-1"),  # tilde sorts before everything
        ("Debian:12", "2.0-1", "1:1.0-1"),  # epoch wins
        ("Debian:12", "2.9.14+dfsg-1.3~deb12u1", "2.9.14+dfsg-1.3"),
        ("Alpine:v3.11", "1.29.3-r9", "1.29.3-r10"),
        ("Alpine:v3.11", "1.1.1d-r3", "1.1.1g-r0"),
        ("PyPI", "2.2.0rc1", "2.2"),
        ("PyPI", "1.26.4", "1.26.5"),
        ("npm", "4.17.11", "4.17.20"),
        ("npm", "1.0.0-beta.2", "1.0.0"),
        ("Go", "v0.0.0-20190308221718-c2843e01d9a2", "0.0.0-20200220183623-bac4c82f6975"),
        ("Go", "v1.2.3", "v1.10.0"),
        ("Maven", "2.0-rc1", "2.0"),
        ("Maven", "2.14.1", "2.15.0"),
        ("Red Hat", "1.0-1.el8", "1.0-2.el8"),
    ],
)
def test_order(ecosystem: str, low: str, high: str) -> None:
    a, b = parse_version(ecosystem, low), parse_version(ecosystem, high)
    assert a < b
    assert not b < a


def test_pep440_normalisation_makes_2_2_equal_2_2_0() -> None:
    advisory = Advisory(id="X", source="t", ecosystem="PyPI", package="p", versions=("2.2",))
    assert advisory.affects(parse_version("PyPI", "2.2.0"))


def _debian_versions() -> list[str]:
    text = (VULNDATA / "debian" / "security-tracker-2023-03" / "DSA-list").read_text()
    return sorted(set(re.findall(r"^\t\[\w+\] - \S+ (\d\S*)", text, re.MULTILINE)))


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is the oracle")
def test_debian_order_agrees_with_dpkg_on_real_versions() -> None:
    versions = _debian_versions()
    rng = random.Random(7)
    scheme = scheme_for("Debian:12")
    for _ in range(150):
        a, b = rng.sample(versions, 2)
        try:
            ka, kb = scheme(a), scheme(b)
        except ValueError:
            continue
        dpkg_lt = (
            subprocess.run(["dpkg", "--compare-versions", a, "lt", b], check=False).returncode == 0
        )
        assert (ka < kb) == dpkg_lt, (a, b)


def _advisory(
    *ranges: tuple[tuple[str, str], ...], versions: tuple[str, ...] = (), ecosystem: str = "PyPI"
) -> Advisory:
    return Advisory(
        id="TEST-1",
        source="t",
        ecosystem=ecosystem,
        package="p",
        versions=versions,
        ranges=tuple(
            VersionRange(
                type="ECOSYSTEM", events=tuple(RangeEvent(kind=k, version=v) for k, v in r)
            )
            for r in ranges
        ),
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.9", False),
        ("1.0", True),
        ("1.4.9", True),
        ("1.5", False),
        ("2.0", True),
        ("2.3", True),
        ("2.3.1", False),
        ("3.0", False),
    ],
)
def test_multiple_ranges_and_last_affected(version: str, affected: bool) -> None:
    advisory = _advisory(
        (("introduced", "1.0"), ("fixed", "1.5")),
        (("introduced", "2.0"), ("last_affected", "2.3")),
    )
    assert advisory.affects(parse_version("PyPI", version)) is affected


def test_events_out_of_order_and_limit() -> None:
    advisory = _advisory((("fixed", "1.5"), ("introduced", "0"), ("limit", "1.2")))
    assert advisory.affects(parse_version("PyPI", "1.1"))
    assert not advisory.affects(parse_version("PyPI", "1.3"))  # at/after the limit


def test_a_star_limit_means_no_limit() -> None:
    """OSV's ``before_limits``: ``limit: "*"`` lifts every limit of the range."""
    advisory = _advisory(
        (("introduced", "1.0"), ("limit", "1.2"), ("limit", "*")), ecosystem="Alpine:v3.11"
    )
    assert advisory.affects(parse_version("Alpine:v3.11", "1.3-r0"))
    assert not advisory.affects(parse_version("Alpine:v3.11", "0.9-r0"))


@pytest.mark.parametrize(
    ("ecosystem", "low", "high"),
    [
        ("Alpine:v3.11", "5.7.1p1-r0", "5.7.1p1-r1"),  # real secdb versions (apk calls them equal)
        ("Alpine:v3.11", "1.8.1p1-r1", "1.8.2-r0"),
        ("Alpine:v3.20", "1.0~1234abcd-r1", "1.0~2345-r0"),
        ("Alpine:v3.20", "8.2.0015", "8.2.002"),
        ("Maven", "4.1.0.RC1", "4.1.0"),
        ("PyPI", "0.7.10p1", "0.7.11p2"),  # legacy (pre-PEP 440) versions in OSV data
        ("PyPI", "2013-01-21T20:33:09+0100", "0.1"),  # legacy sorts below PEP 440
        ("RubyGems", "1beta", "1"),
        ("Red Hat", "a:2", "0:1.0"),  # a non-numeric "epoch" is part of the version
    ],
)
def test_forms_found_in_real_feed_data(ecosystem: str, low: str, high: str) -> None:
    assert parse_version(ecosystem, low) < parse_version(ecosystem, high)
    assert not parse_version(ecosystem, high) < parse_version(ecosystem, low)


def test_maven_release_qualifier_is_the_release() -> None:
    release, plain = parse_version("Maven", "4.1.0.RELEASE"), parse_version("Maven", "4.1.0")
    assert not release < plain
    assert not plain < release


def test_prereleases_of_the_fix_are_affected() -> None:
    advisory = _advisory((("introduced", "0"), ("fixed", "2.0")))
    assert advisory.affects(parse_version("PyPI", "2.0rc1"))
    assert not advisory.affects(parse_version("PyPI", "2.0.post1"))
    assert advisory.fixed_versions(parse_version("PyPI", "1.0")) == ["2.0"]


def test_open_ended_range() -> None:
    advisory = _advisory((("introduced", "3.0"),))
    assert advisory.affects(parse_version("PyPI", "99"))
    assert not advisory.affects(parse_version("PyPI", "2.9"))
    assert advisory.fixed_versions(parse_version("PyPI", "99")) == []
