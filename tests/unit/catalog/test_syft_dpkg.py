"""What :mod:`service.catalog.syft_dpkg` and :mod:`service.catalog.syft_image` read as
Syft 1.18.1 does, and what they leave to Syft. Their results are compared with Syft's own
on real images in tests/integration/test_syft_evidence_parity.py."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from service.catalog import syft_dpkg
from service.catalog.syft_image import image_catalog
from service.catalog.syft_licenses import spdx_expression
from service.catalog.syft_native import NotPlain, go_trim, scanned_lines
from service.layers.squash import Node, SquashedTree

RELEASE = syft_dpkg.Release(id="debian", version_id="12", id_like=(), codename="bookworm")
STATUS = (
    b"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\n"
    b"Source: glibc (2.36-9)\nVersion: 2.36-9+deb12u4\n"
    b"Conffiles:\n /etc/ld.so.conf.d/x86_64-linux-gnu.conf abc\n\n"
    b"Package: adduser\nArchitecture: all\nVersion: 3.134\n"
)


def _tree(files: dict[str, bytes | str]) -> SquashedTree:
    nodes = {
        path: (
            Node("sha256:l", link=content)
            if isinstance(content, str)
            else Node("sha256:l", data=content)
        )
        for path, content in files.items()
    }
    return SquashedTree(nodes)


def test_paragraphs_fields_and_the_last_line_without_its_newline() -> None:
    [libc, adduser] = syft_dpkg.entries(STATUS + b"\nPackage: lost")
    assert (libc.name, libc.source, libc.source_version) == ("libc6", "glibc", "2.36-9")
    assert libc.conffiles == ("/etc/ld.so.conf.d/x86_64-linux-gnu.conf",)
    assert (adduser.name, adduser.source, adduser.architecture) == ("adduser", "", "all")


@pytest.mark.parametrize(
    "status",
    [
        b"Package: a\nVersion: 1\nVersion: 2\n\n",  # Syft refuses the file
        b" continued\nPackage: a\nVersion: 1\n\n",
        b"Package: a\nnot a field\n continued\n\n",
        b"package: a\nVersion: 1\n\n",  # mapstructure ignores case
        b"Package: a\nVersion: 1\nInstalled-Size: huge\n\n",
        "Package: a\nVersion: 1\nInstalled-Size: \u00b2\n\n".encode(),  # a digit to Python
        b"Package: A b\nVersion: 1\n\n",
    ],
)
def test_status_files_syft_reads_its_own_way_are_left_to_it(status: bytes) -> None:
    with pytest.raises(NotPlain):
        syft_dpkg.entries(status)


def test_a_package_with_its_info_files_copyright_and_purl() -> None:
    tree = _tree(
        {
            "var/lib/dpkg/status": STATUS,
            "var/lib/dpkg/info/libc6:amd64.md5sums": b"d41d  usr/lib/x86_64-linux-gnu/libc.so.6\n",
            "var/lib/dpkg/info/libc6.shlibs": b"",
            "usr/share/doc/libc6": "libc-common",
            "usr/share/doc/libc-common/copyright": (
                b"License: GPL-2+\nLicense: LGPL-2.1 or GPL-2\n"
                b"see /usr/share/common-licenses/LGPL-2.1.\nLicense: none\n"
            ),
        },
    )
    libc = syft_dpkg.entries(STATUS)[0]
    package, owned = syft_dpkg.package(libc, tree, RELEASE, syft_dpkg.info_files(tree))
    assert package.purl == (
        "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc%402.36-9"
    )
    assert package.licenses == ("GPL-2.0-or-later", "LGPL-2.1-only")
    assert [loc.path for loc in package.locations] == [
        "/usr/share/doc/libc-common/copyright",
        "/var/lib/dpkg/info/libc6.shlibs",
        "/var/lib/dpkg/info/libc6:amd64.md5sums",
        "/var/lib/dpkg/status",
    ]
    assert owned == {
        "/etc/ld.so.conf.d/x86_64-linux-gnu.conf",
        "/usr/lib/x86_64-linux-gnu/libc.so.6",
    }
    assert package.cpes == ("cpe:2.3:a:libc6:libc6:2.36-9\\+deb12u4:*:*:*:*:*:*:*",)
    assert (package.source_name, package.source_version) == ("glibc", "2.36-9")


def _image(extra: dict[str, bytes | str]) -> SquashedTree:
    return _tree(
        {
            "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
            "etc/os-release": "../usr/lib/os-release",
            "var/lib/dpkg/status": b"Package: bash\nArchitecture: amd64\nVersion: 5.2.15-2\n\n",
            "var/lib/dpkg/info/bash.md5sums": b"abc  bin/bash\n",
            "bin": "usr/bin",
            "usr/bin/bash": b"\x7fELF bash",
            **extra,
        }
    )


def test_a_debian_image_whose_binaries_dpkg_owns_is_read_natively() -> None:
    found = image_catalog(_image({}))
    assert found is not None
    distro, packages = found
    assert distro is not None and (distro.id, distro.version_id) == ("debian", "12")
    assert [p.name for p in packages] == ["bash"]


@pytest.mark.parametrize(
    "extra",
    [
        {"usr/local/bin/bash": b"\x7fELF bash"},  # a classifier match no package owns
        {"opt/app/demo.jar": b"PK"},  # a Java archive
        {"usr/lib/libx.so": b"\x7fELF .note.package \xff Go buildinf:"},  # Go build info
        {"usr/lib/liby.so": b"\x7fELF .note.package"},  # a package note dpkg does not own
        {"etc/redhat-release": b"Fedora"},
        {"var/lib/dpkg/info/bash.list": "elsewhere"},  # a symlink in the database
    ],
)
def test_evidence_read_otherwise_is_left_to_syft(extra: dict[str, bytes | str]) -> None:
    assert image_catalog(_image(extra)) is None


def test_a_python_file_the_python_classifier_cannot_match_is_not_a_package() -> None:
    found = image_catalog(_image({"srv/app/python.py": b"print(1)\n"}))
    assert found is not None


@pytest.mark.parametrize(
    "extra",
    [
        {"usr/include/linux/kernel-page-flags.h": b"#define KPF_LOCKED 0\n"},  # a text file
        {"usr/share/vim/vim90/tutor/tutor.ko": b"tutor\n"},  # outside lib/modules
        {"usr/share/doc/x/release": b"notes\n"},  # not a JVM's directory
    ],
)
def test_evidence_no_cataloger_finds_anything_in_is_passed_over(
    extra: dict[str, bytes | str],
) -> None:
    assert image_catalog(_image(extra)) is not None


@pytest.mark.parametrize(
    "extra",
    [
        {"boot/vmlinuz-6.1.0": b"MZ\x00\x00HdrS"},  # a kernel image
        {"usr/lib/modules/6.1.0/x.ko": b"\x7fELF"},
        {"usr/lib/jvm/java-17/release": b'JAVA_VERSION="17"\n'},  # no dpkg package owns it
    ],
)
def test_evidence_another_cataloger_reads_is_left_to_syft(extra: dict[str, bytes | str]) -> None:
    assert image_catalog(_image(extra)) is None


def test_a_jvm_release_file_dpkg_owns_goes_with_its_package() -> None:
    tree = _image({"usr/lib/jvm/java-17/release": b'JAVA_VERSION="17"\n'})
    tree.nodes["var/lib/dpkg/info/bash.md5sums"] = Node(
        "sha256:l", data=b"abc  bin/bash\nabd  usr/lib/jvm/java-17/release\n"
    )
    assert image_catalog(tree) is not None


def _licenses_line_by_line(content: bytes) -> tuple[str, ...]:
    """Syft's dpkg license reading as it is written there, one scanned line at a time."""
    found: set[str] = set()
    for line in scanned_lines(content):
        matches = []
        if line.startswith("License: "):
            matches.append(re.match(r"License: ([^\t\n\f\r ]*)", line))
        matches.append(re.search(r"/usr/share/common-licenses/([0-9A-Za-z_.\-]+)", line))
        for matched in filter(None, matches):
            candidate = go_trim(matched[1])
            alone = " or " not in candidate and " and " not in candidate
            if alone and candidate and candidate.lower() != "none":
                found.add(candidate.removesuffix("."))
    return tuple(sorted({spdx_expression(value) or value for value in found}))


_COPYRIGHT_LINES = [
    b"License: GPL-2+\n",
    b"License: MIT\r\n",
    b"License:  leading-space\n",
    b"License:\tTab\n",
    b" License: Indented\n",
    b"License: none\n",
    b"License: BSD-3-clause.\n",
    b"License: \n",
    b"see /usr/share/common-licenses/GPL-3 and /usr/share/common-licenses/LGPL-2.1\n",
    b"/usr/share/common-licenses/ then /usr/share/common-licenses/Apache-2.0.\r\n",
    b"License: Artistic /usr/share/common-licenses/Artistic\n",
    b"On Debian systems, see `/usr/share/common-licenses/GFDL-1.3'.\n",
    b"text without a license\r\n",
    b"\n",
]


@pytest.mark.parametrize("seed", range(20))
def test_copyright_licenses_are_found_as_syft_finds_them_line_by_line(seed: int) -> None:
    rng = random.Random(seed)
    content = b"".join(rng.choices(_COPYRIGHT_LINES, k=rng.randrange(1, 40)))
    if seed % 2:
        content = content.rstrip(b"\n")  # the last line without its newline
    assert syft_dpkg._licenses(content) == _licenses_line_by_line(content)


def test_copyright_files_of_this_machine_are_read_as_line_by_line() -> None:
    """Real copyright files (Debian's packages installed here), up to a few hundred."""
    files = sorted(Path("/usr/share/doc").glob("*/copyright"))[:400]
    if not files:
        pytest.skip("no Debian copyright files on this machine")
    for path in files:
        content = path.read_bytes()
        try:
            expected = _licenses_line_by_line(content)
        except NotPlain:
            with pytest.raises(NotPlain):
                syft_dpkg._licenses(content)
            continue
        assert syft_dpkg._licenses(content) == expected, path
