"""A layer that adds only ``*.dist-info`` directories (and ``package.json`` files) to an
analysed base is catalogued without Syft (:mod:`service.catalog.syft_python`), and the
catalog is exactly what Syft reports for the whole image: on every shape of METADATA
the module reads (each license it maps or keeps as written, authors and author emails
as CPE vendors, names Syft normalises, CPEs from Syft's dictionary) and on the
dist-info directories of real wheels. Directories the module leaves to Syft make the
layer go to Syft, with the same result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.catalog import syft_native, syft_python
from service.catalog.syft_python import Distribution
from tests.integration.test_syft_npm_parity import (
    NATIVE,
    SYFT,
    _as_syft_reports,
    _split_as_syft_reports,
)
from tests.support.images import REPO_ROOT
from tests.support.language_packages import Pin, download_wheels, install_wheel
from tests.support.layers import LayerEntries

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = "usr/lib/python3.11/site-packages"
# Real wheels of many ages and build backends (setuptools, flit, hatchling, poetry,
# meson-python): License, License-Expression, free-text and multi-line licenses,
# License-File only, authors and author emails of many forms, dictionary hits
# (requests, urllib3, cryptography).
_PINS = (
    "requests==2.31.0", "urllib3==1.26.18", "six==1.16.0", "certifi==2023.7.22",
    "idna==3.4", "charset-normalizer==3.3.2", "python-dateutil==2.8.2", "pytz==2023.3",
    "attrs==23.1.0", "click==8.1.7", "Jinja2==3.1.2", "MarkupSafe==2.1.3", "Flask==2.3.3",
    "Werkzeug==2.3.7", "itsdangerous==2.1.2", "PyYAML==6.0.1", "packaging==23.2",
    "setuptools==68.2.2", "wheel==0.41.2", "cryptography==41.0.5", "jmespath==1.0.1",
    "docutils==0.20.1", "numpy==1.26.1", "typing_extensions==4.8.0", "decorator==4.4.2",
    "Django==4.2.7", "SQLAlchemy==2.0.23", "colorama==0.4.6", "pyparsing==3.1.1",
    "psutil==5.9.6", "protobuf==4.24.4", "Pillow==10.1.0", "simplejson==3.19.2",
    "pycparser==2.21", "cffi==1.16.0", "argparse==1.4.0", "pydantic==2.4.2",
    "boto3==1.28.0", "zipp==3.17.0",
)  # fmt: skip
REAL = tuple(Pin(*pin.split("==")) for pin in _PINS)
WHEELS = REPO_ROOT / ".cache" / "pypi-parity"
RECORD = b"pkg/__init__.py,sha256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU,0\n"


def _metadata(*lines: str, end: str = "\n", body: str = "") -> bytes:
    return (end.join(lines) + end + (f"{end}{body}" if body else "")).encode()


# A layer adding an npm package and a wheel, both plain.
NPM_AND_PYTHON: LayerEntries = {
    "app/node_modules/left-pad/package.json": json.dumps(
        {"name": "left-pad", "version": "1.3.0", "license": "WTFPL"}
    ).encode(),
    f"{SITE}/six-1.16.0.dist-info/METADATA": _metadata(
        "Name: six", "Version: 1.16.0", "Author: Benjamin Peterson", "License: MIT"
    ),
    f"{SITE}/six-1.16.0.dist-info/RECORD": RECORD,
}


def _shapes() -> dict[str, bytes]:
    """One dist-info (or egg-info) directory per shape the module reads natively."""
    entries: dict[str, bytes] = {}
    count = 0

    def add(
        name: str,
        version: str,
        *lines: str,
        files: dict[str, bytes] | None = None,
        end: str = "\n",
        body: str = "",
        egg: bool = False,
    ) -> None:
        nonlocal count
        count += 1
        directory = f"{SITE}/shape{count}-{version}." + ("egg-info" if egg else "dist-info")
        header = ("Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", *lines)
        metadata = _metadata(*header, end=end, body=body)
        entries[f"{directory}/{'PKG-INFO' if egg else 'METADATA'}"] = metadata
        for relative, content in ({"RECORD": RECORD} if files is None else files).items():
            entries[f"{directory}/{relative}"] = content

    for number, identifier in enumerate(syft_native.LICENSES):
        add(f"plain-{number}", "1.0.0", f"License: {identifier}")
        add(f"lower-{number}", "1.0.1", f"License-Expression: {identifier.lower()}")
        add(f"nodash-{number}", "1.0.2", f"License: {identifier.replace('-', '')}")
    for number, text in enumerate(syft_native.FREE_TEXT_LICENSES):
        add(f"free-text-{number}", "2.0", f"License: {text}")
    add("either", "2.0.0rc1", "License-Expression: MIT OR Apache-2.0")
    # one-line licenses read through Syft's SPDX table and go-spdx's validation
    add("or-later", "1.1", "License: GPL-2.0+")
    add("debian-short", "1.2", "License: LGPL-2.1")
    add("unknown-words", "1.3", "License: Apache License Version 2")
    add("unknown-id", "1.4", "License: Expat")
    add("an-egg", "66.1.1", "License: MIT", egg=True, files={"top_level.txt": b"an_egg\n"})
    add("both", "2.0.post1", "License: (MIT OR Apache-2.0) AND BSD-3-Clause")
    add("expression-wins", "1", "License: Apache 2.0", "License-Expression: MIT")
    add(
        "classifiers-only",
        "0.1.dev3",
        "Classifier: License :: OSI Approved :: MIT License",
        "Classifier: Programming Language :: Python :: 3",
        "License-File: LICENSE",  # in licenses/, where Syft does not look
        files={"RECORD": RECORD, "licenses/LICENSE": b"MIT License\n", "INSTALLER": b"pip\n"},
    )
    add("Kenneth_Reitz.Tools", "1.0+local.7", "Author: Kenneth Reitz", "Home-page: https://x.org")
    add("pallets-thing", "3.1", "Author: The Pallets Team", "Author-email: team@pallets.example")
    add("quoted-author", "1", 'Author-email: "Foo Bar" <foo@example.com>')
    add("two-authors", "1", "Author-email: Ann Lee <ann@x.org>, Bob <bob@y.org>")
    add("dotted-email", "1", "Author-email: dev.team-x@example.com", "Maintainer: M")
    add("non-ascii", "1", "Author: Zoë Müller", "Author-email: zoë@example.com")
    add("punctuated", "1", "Author: A. B. (Org) & Co!", "Author-email: a:b+c@x.org")
    add("known-vendor", "1", "Author: Apache")  # Syft keeps only the vendor "apache"
    add("apache-tool", "1", "Author-email: someproject@example.com")
    add("python-thing", "1", "Project-URL: Source, https://github.com/org/python-thing")
    add("pythonic", "1", "Author: -")
    add("requests", "2.31.0", "License: Apache 2.0")  # in Syft's CPE dictionary
    add("urllib3", "1.26.18", "License: MIT")
    add("cryptography", "41.0.5", "License: Apache-2.0 OR BSD-3-Clause")
    add("crlf", "1", "License: MIT", "Summary: a: b", end="\r\n")
    add("lowercase-keys", "1", "license: MIT", "author-email: low@x.org")
    add(
        "continued",
        "1",
        "Description: first line",
        "        second: line",
        "        ",
        "        third",
        "a line without a colon",
        "Requires-Dist: six",
        "Requires-Dist: idna ; extra == 'x'",
        "Provides-Extra: x",
        "Platform: any",
        "Platform: linux",
    )
    add("with-body", "1", "Description-Content-Type: text/markdown", body="License: GPL\n")
    add(
        "all-files",
        "1",
        "License: ISC",
        files={
            "RECORD": RECORD,
            "top_level.txt": b"pkg\nother\n",
            "direct_url.json": json.dumps(
                {"url": "file:///tmp/x.whl", "archive_info": {"hash": "sha256=00"}}
            ).encode(),
            "INSTALLER": b"pip\n",
            "REQUESTED": b"",
            "WHEEL": b"Wheel-Version: 1.0\n",
            "entry_points.txt": b"[console_scripts]\nx = pkg:main\n",
        },
    )
    add(
        "editable",
        "1",
        files={"direct_url.json": b'{"url": "file:///src", "dir_info": {"editable": true}}'},
    )
    add("no-record", "1", files={})
    add("Python", "3.11", files={})  # Syft skips it
    entries[f"{SITE}/leading-blank.dist-info/METADATA"] = b"\n\nName: leading-blank\nVersion: 1"
    entries[f"{SITE}/no-metadata-1.dist-info/RECORD"] = RECORD
    entries[f"{SITE}/no-name-1.dist-info/METADATA"] = _metadata("Version: 1.0")
    return entries


def _real() -> tuple[LayerEntries, LayerEntries]:
    """The dist-info directories of the real wheels: those read natively, and the rest."""
    plain: dict[str, bytes] = {}
    other: dict[str, bytes] = {}
    for wheel in download_wheels(REAL, WHEELS, "3.11"):
        installed = WHEELS / "installed" / wheel.stem
        if not installed.exists():
            install_wheel(wheel, installed / "site-packages", installed / "bin")
        for directory in (installed / "site-packages").glob("*.dist-info"):
            files = {
                path.relative_to(directory).as_posix(): path.read_bytes()
                for path in directory.rglob("*")
                if path.is_file()
            }
            distribution = Distribution(f"{SITE}/{directory.name}", "layer", files)
            target = plain if syft_python.packages([distribution]) is not None else other
            for relative, content in files.items():
                target[f"{SITE}/{directory.name}/{relative}"] = content
    return plain, other


def _names(entries: LayerEntries) -> set[str]:
    return {path.split("/")[-2] for path in entries if path.endswith(".dist-info/METADATA")}


def test_every_shape_read_natively_is_what_syft_reports(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shapes = _shapes()
    derived = _as_syft_reports(tmp_path, caplog, shapes, NATIVE)
    found = {p.name for p in derived.packages if p.type.value == "python"}
    assert {"kenneth-reitz-tools", "plain-0", "free-text-0", "all-files", "an-egg"} <= found
    assert "python" not in found


def test_real_wheels_are_catalogued_as_syft_does_whichever_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plain, other = _real()
    assert len(_names(plain)) >= 3 * len(_names(other))  # most real wheels are read natively
    _split_as_syft_reports(tmp_path, caplog, plain, other)


def test_a_directory_left_to_syft_sends_the_layer_to_syft(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    upper = {
        f"{SITE}/plain-1.0.dist-info/METADATA": _metadata("Name: plain", "Version: 1.0"),
        f"{SITE}/scanned-1.0.dist-info/METADATA": _metadata(
            "Name: scanned", "Version: 1.0", "License-File: LICENSE"
        ),
        f"{SITE}/scanned-1.0.dist-info/LICENSE": b"Permission is hereby granted, free of charge",
    }
    _as_syft_reports(tmp_path, caplog, upper, SYFT)


def test_a_layer_of_npm_and_python_packages_is_read_natively(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    derived = _as_syft_reports(tmp_path, caplog, NPM_AND_PYTHON, NATIVE)
    assert {("npm", "left-pad"), ("python", "six")} <= {
        (p.type.value, p.name) for p in derived.packages
    }
