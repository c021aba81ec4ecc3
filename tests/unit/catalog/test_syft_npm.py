"""What :mod:`service.catalog.syft_npm` reads natively and what it leaves to Syft.

Its results are compared with Syft's own in tests/integration/test_syft_npm_parity.py;
here: the files it must leave to Syft (a shape Go's decoder or Syft's rules read in a
way it does not reproduce), and Syft's own test vectors for the CPE rules it follows
(github.com/anchore/syft v1.18.1, syft/pkg/cataloger/internal/cpegenerate/
generate_test.go, Apache-2.0).
"""

from __future__ import annotations

import json

import pytest

from service.catalog import syft_native, syft_npm
from service.catalog.syft_npm import Manifest

PATH = "app/node_modules/x/package.json"


def _read(content: bytes) -> list[tuple[str, str]] | None:
    found = syft_npm.packages([Manifest(PATH, "sha256:layer", content)])
    return None if found is None else [(p.name, p.version) for p in found]


def _json(**fields: object) -> bytes:
    return json.dumps(fields).encode()


@pytest.mark.parametrize(
    "content",
    [
        b'\xef\xbb\xbf{"name": "x", "version": "1.0.0"}',  # a byte-order mark
        b'{"name": "x", "version": "1.0.0"}{"name": "y", "version": "1.0.0"}',
        b'{"name": "x", "version": "1.0.0", "size": NaN}',
        b'["x", "1.0.0"]',
        b'{"name": "x", "version": "1.0.0", "name": "y"}',
        b'{"Name": "x", "version": "1.0.0"}',  # Go matches "Name" to name
        b'{"name": "x", "version": "1.0.0", "\xc5\xbfcripts": {}}',  # a non-ASCII key
        b'{"name": "x", "version": "1.0\xff"}',
        _json(name="x", version=1),
        _json(name="x"),  # Syft stubs a missing version as UNKNOWN
        _json(name="x", version="1.0.0~1"),
        _json(name="@scope/x/y", version="1.0.0"),
        _json(name="X", version="1.0.0"),
        _json(name="x", version="1.0.0", author=["a"]),
        _json(name="x", version="1.0.0", author={"name": 1}),
        _json(name="x", version="1.0.0", author={"Name": "a"}),
        _json(name="x", version="1.0.0", repository={"url": 1}),
        _json(name="x", version="1.0.0", repository=None),
        _json(name="x", version="1.0.0", private="yes"),
        _json(name="x", version="1.0.0", dependencies={"y": 1}),
        _json(name="x", version="1.0.0", latest="1.0.0"),
        _json(name="x", version="1.0.0", license="Apache 2.0"),
        _json(name="x", version="1.0.0", license="SEE LICENSE IN LICENSE.md"),
        _json(name="x", version="1.0.0", license="MIT OR"),
        _json(name="x", version="1.0.0", license="(MIT OR ISC"),
        _json(name="x", version="1.0.0", license="MIT  OR ISC"),
        _json(name="x", version="1.0.0", license=None),
        _json(name="x", version="1.0.0", license={"type": "MIT", "URL": "u"}),
        _json(name="x", version="1.0.0", licenses=["MIT"]),
        _json(name="x", version="1.0.0", licenses={"type": "MIT"}),
        _json(name="redis", version="1.0.0"),  # Syft removes a vendor for it
        _json(name="jenkins-tools", version="1.0.0"),  # Syft filters its CPEs
        b'{"name": "x", "version": "1.0.0", "pad": "' + b"x" * syft_native.MAX_FILE + b'"}',
        b'{"name": "x", "version": "1.0.0", "deep": ' + b"[" * 200_000 + b"]" * 200_000 + b"}",
    ],
)
def test_a_file_syft_reads_its_own_way_is_left_to_syft(content: bytes) -> None:
    assert _read(content) is None


@pytest.mark.parametrize(
    "content",
    [
        _json(version="1.0.0"),
        _json(name="  ", version="1.0.0"),
        _json(type="module"),
    ],
)
def test_a_file_without_a_name_gives_no_package_as_in_syft(content: bytes) -> None:
    assert _read(content) == []


def test_the_same_package_in_two_places_is_two_packages_as_syft_reports_it() -> None:
    content = _json(name="x", version="1.0.0")
    manifests = [Manifest(path, "sha256:layer", content) for path in (PATH, f"srv/{PATH}")]
    found = syft_npm.packages(manifests) or []
    assert [p.locations[0].path for p in found] == [f"/{PATH}", f"/srv/{PATH}"]


def test_a_plain_file_is_read_with_its_location_and_purl() -> None:
    content = _json(name="left-pad", version="1.3.0", license={"type": "wtfpl"})
    (package,) = syft_npm.packages([Manifest(PATH, "sha256:layer", content)]) or []
    assert (package.name, package.version, package.purl) == (
        "left-pad",
        "1.3.0",
        "pkg:npm/left-pad@1.3.0",
    )
    assert package.licenses == ("WTFPL",)
    assert [(loc.path, loc.layer) for loc in package.locations] == [(f"/{PATH}", "sha256:layer")]


def test_cpes_of_a_javascript_package_follow_syft() -> None:
    """Syft's TestGeneratePackageCPEs, case "javascript language"."""
    cpes = syft_npm._generated_cpes("name", "3.2", ["https://github.com/bob/npm-name"])
    assert sorted(cpes) == sorted(
        ["cpe:2.3:a:name:name:3.2:*:*:*:*:*:*:*", "cpe:2.3:a:bob:name:3.2:*:*:*:*:*:*:*"]
    )
