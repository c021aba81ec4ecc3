"""What :mod:`service.catalog.syft_python` reads natively and what it leaves to Syft.

Its results are compared with Syft's own in tests/integration/test_syft_python_parity.py;
here: the directories it must leave to Syft (a shape Syft's parser, mapstructure or
license scanner reads in a way it does not reproduce), and Syft's own test vectors for
the Python CPE rules it follows (github.com/anchore/syft v1.18.1,
syft/pkg/cataloger/internal/cpegenerate/generate_test.go, Apache-2.0).
"""

from __future__ import annotations

import pytest

from service.catalog import syft_native, syft_python
from service.catalog.syft_python import Distribution

DIRECTORY = "usr/lib/python3.11/site-packages/x-1.0.dist-info"
RECORD = b"x/__init__.py,sha256=abc,0\n"


def _read(metadata: bytes, **files: bytes) -> list[tuple[str, str]] | None:
    contents = {"METADATA": metadata, "RECORD": RECORD, **files}
    found = syft_python.packages([Distribution(DIRECTORY, "sha256:layer", contents)])
    return None if found is None else [(p.name, p.version) for p in found]


def _metadata(*lines: str) -> bytes:
    return ("\n".join(lines) + "\n").encode()


PLAIN = ("Metadata-Version: 2.1", "Name: x", "Version: 1.0")


@pytest.mark.parametrize(
    "metadata",
    [
        _metadata(" continued", *PLAIN),  # Syft fails: no field to continue
        _metadata(*PLAIN, "License: MIT", "license: ISC"),  # two keys for one field
        _metadata(*PLAIN, "Files: x"),  # mapstructure cannot decode it
        _metadata(*PLAIN, "Top-Level-Packages: x"),
        _metadata(*PLAIN, "requires-dist: y"),  # a text value for a list field
        _metadata(*PLAIN, "Licen\u017fe: MIT"),  # the long s folds to License in Go
        _metadata("Name: x", "Version: 1.0!2"),
        _metadata("Name: x", "Version: "),
        _metadata("Name: x y", "Version: 1.0"),
        _metadata("Name: -x", "Version: 1.0"),
        _metadata(*PLAIN, "Summary: " + "s" * 70_000),  # past Syft's scanner buffer
        b"Name: x\nVersion: 1.0\nSummary: \xff\n",
        _metadata(*PLAIN, "License: MIT", " with an exception"),
        _metadata(*PLAIN, "License: MIT OR"),
        _metadata(*PLAIN, "License-File: ../LICENSE"),
        _metadata("Name: redis", "Version: 5.0.1"),  # Syft removes a vendor for it
        _metadata("Name: jenkins-job-builder", "Version: 6.0"),  # Syft filters its CPEs
        _metadata(*PLAIN, "Author: \u212aelvin"),  # Kelvin sign: Go lowercases it to k
        _metadata(*PLAIN, "Author: a*b"),
        _metadata(*PLAIN, 'Author: "Quoted"'),
        b"Name: x\nVersion: 1.0\n" + b"Summary: s\n" * (syft_native.MAX_FILE // 10),
    ],
)
def test_a_metadata_syft_reads_its_own_way_is_left_to_syft(metadata: bytes) -> None:
    assert _read(metadata) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Apache License Version 2", "Apache License Version 2"),  # no SPDX reading: kept
        ("Apache 2", "Apache 2"),
        ("GPL-2.0+", "GPL-2.0-or-later"),  # Syft's SPDX table
    ],
)
def test_a_license_of_one_line_is_what_syft_parses_it_to(value: str, expected: str) -> None:
    contents = {"METADATA": _metadata(*PLAIN, f"License: {value}"), "RECORD": RECORD}
    [package] = syft_python.packages([Distribution(DIRECTORY, "sha256:layer", contents)])
    assert package.licenses == (expected,)


@pytest.mark.parametrize(
    "files",
    [
        {"LICENSE": b"MIT License"},  # License-File, and no License: Syft scans it
        {"installed-files.txt": b"../x/__init__.py\n"},
        {"RECORD": b'"x,y.py",sha256=abc,0\n'},
        {"RECORD": b"x.py,sha256=abc\n"},
        {"RECORD": b""},
        {"top_level.txt": b"x" * 70_000},
        {"direct_url.json": b'{"url": "https://g/x", "vcs_info": {"vcs": "git"}}'},
        {"direct_url.json": b'{"URL": "file:///x"}'},
        {"direct_url.json": b'{"url": 1}'},
        {"direct_url.json": b'{"url": "file:///x", "dir_info": {"editable": "yes"}}'},
        {"direct_url.json": b"[]"},
        {"package.json": b"{}"},  # read by the npm cataloger too
        {"sub.egg-info": b""},
        {"x.so": b"\x7fELF\x02\x01\x01"},  # an executable the binary catalogers open
    ],
)
def test_a_directory_syft_reads_its_own_way_is_left_to_syft(files: dict[str, bytes]) -> None:
    metadata = _metadata(*PLAIN, "License-File: LICENSE")
    assert _read(metadata, **files) is None


@pytest.mark.parametrize(
    "metadata",
    [_metadata("Version: 1.0"), _metadata("Name: Python", "Version: 2.7"), b"\n\n"],
)
def test_a_metadata_without_a_name_gives_no_package_as_in_syft(metadata: bytes) -> None:
    assert _read(metadata) == []


def test_a_directory_without_metadata_gives_no_package_as_in_syft() -> None:
    found = syft_python.packages([Distribution(DIRECTORY, "sha256:layer", {"RECORD": RECORD})])
    assert found == []


def test_the_same_package_in_two_places_is_two_packages_as_syft_reports_it() -> None:
    files = {"METADATA": _metadata(*PLAIN)}
    distributions = [
        Distribution(path, "sha256:layer", files) for path in (DIRECTORY, f"o/{DIRECTORY}")
    ]
    assert len(syft_python.packages(distributions) or []) == 2


def test_pip_gets_the_vendor_syft_adds_for_it() -> None:
    """candidate_by_package_type.go adds the vendor "pypa" for pip, unvaried."""
    cpes = syft_python._generated_cpes("pip", "23.2.1", "", "")
    assert "cpe:2.3:a:pypa:pip:23.2.1:*:*:*:*:*:*:*" in cpes
    assert not any(":pypa-" in cpe or ":pypa_" in cpe for cpe in cpes)


def test_a_plain_directory_is_read_with_its_locations_purl_and_license() -> None:
    metadata = _metadata("Name: Foo_Bar.baz", "Version: 1.0.post1", "License: mit")
    found = syft_python.packages(
        [
            Distribution(
                DIRECTORY,
                "sha256:layer",
                {"METADATA": metadata, "RECORD": RECORD, "top_level.txt": b"foo\n"},
            )
        ]
    )
    (package,) = found or []
    assert (package.name, package.version, package.purl, package.licenses) == (
        "foo-bar-baz",
        "1.0.post1",
        "pkg:pypi/foo-bar-baz@1.0.post1",
        ("MIT",),
    )
    assert [(loc.path, loc.layer) for loc in package.locations] == [
        (f"/{DIRECTORY}/{name}", "sha256:layer") for name in ("METADATA", "RECORD", "top_level.txt")
    ]


@pytest.mark.parametrize(
    ("path", "directory"),
    [
        ("a/x-1.dist-info/METADATA", "a/x-1.dist-info"),
        ("a/x-1.dist-info/licenses/LICENSE", "a/x-1.dist-info"),
        ("a/x-1.dist-info/y.dist-info/METADATA", None),
        ("a/x-1.egg-info/PKG-INFO", "a/x-1.egg-info"),
        ("a/x-1.egg-info/y.dist-info/METADATA", None),
        ("a/X-1.DIST-INFO/METADATA", None),
        ("a/node_modules/x/package.json", None),
    ],
)
def test_files_are_read_in_the_one_metadata_directory_they_are_in(
    path: str, directory: str | None
) -> None:
    assert syft_python.metadata_directory(path) == directory


def test_cpes_of_a_python_package_follow_syft() -> None:
    """Syft's TestGeneratePackageCPEs, case "python language"."""
    cpes = syft_python._generated_cpes("name", "3.2", "alex goodman", "william.goodman@anchore.com")
    vendors = ["name", "python-name", "python", "python_name", "alex_goodman", "william-goodman",
               "william_goodman", "alex_goodman_project", "alex_goodmanproject",
               "william_goodman_project", "william_goodmanproject"]  # fmt: skip
    products = ["name", "python-name", "python_name"]
    expected = {f"cpe:2.3:a:{v}:{p}:3.2:*:*:*:*:*:*:*" for v in vendors for p in products}
    assert set(cpes) == expected


def test_cpes_of_a_hyphenated_python_package_follow_syft() -> None:
    """Syft's TestGeneratePackageCPEs, case "python language with a hyphenated name"."""
    cpes = syft_python._generated_cpes("name-part", "3.2", "", "")
    vendors = ["name-part", "name", "name_part", "python-name-part", "python-name", "python",
               "python_name", "python_name_part"]  # fmt: skip
    products = ["name-part", "name_part", "python-name-part", "python_name_part"]
    assert set(cpes) == {f"cpe:2.3:a:{v}:{p}:3.2:*:*:*:*:*:*:*" for v in vendors for p in products}
