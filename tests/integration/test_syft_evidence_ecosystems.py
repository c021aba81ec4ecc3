"""Syft on the layers' evidence equals Syft on the whole image for every cataloger Syft
runs on images, beyond the ecosystems of the test images: apk, pacman (alpm), Portage,
conan, Lua rocks, Composer, PECL, R, WordPress plugins, a JDK, embedded SBOM documents
and the binary classifiers (real binaries of this machine: bash, python).

Metadata files are written as their tools write them (an apk ``installed`` database, a
pacman ``desc``, Portage's ``CONTENTS``…): what is compared is what the real Syft makes
of them, twice.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.test_syft_evidence_parity import catalogs, pinned
from tests.support.layers import Entry, File
from tests.support.oci import ImageSpec, write_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APK_INSTALLED = b"""C:Q1vOlnr6sxbQl8X7lXNd3Jt0WVVxY=
P:musl
V:1.2.4-r2
A:x86_64
S:383152
I:622592
T:the musl c library (libc) implementation
U:https://musl.libc.org/
L:MIT
o:musl
m:Timo Teras <timo.teras@iki.fi>
t:1691600000
c:4fe5d3b5b1c9e3c5e2d9e0b5d1b7c2a1f0e9d8c7
F:lib
R:ld-musl-x86_64.so.1
a:0:0:755
Z:Q1tH3aNpVz0aNv0bBsL6rJrJq8j3w=
R:libc.musl-x86_64.so.1
a:0:0:777
Z:Q17yJ3JFNypA4mxhJJr0ou6CzsJVI=

C:Q1zEmi6B2sWrpDNTmo9IeTkuLGh2A=
P:zlib
V:1.2.13-r1
A:x86_64
S:53346
I:110592
T:A compression/decompression Library
U:https://zlib.net/
L:Zlib
o:zlib
m:Natanael Copa <ncopa@alpinelinux.org>
t:1682000000
c:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d
D:so:libc.musl-x86_64.so.1
p:so:libz.so.1=1.2.13
F:lib
R:libz.so.1.2.13
a:0:0:755
Z:Q1O/x0o6kTBcRSl9Qr1tk2U6iO1mA=

"""
PACMAN_DESC = b"""%NAME%
pacman

%VERSION%
6.0.2-7

%BASE%
pacman

%DESC%
A library-based package manager with dependency support

%URL%
https://www.archlinux.org/pacman/

%ARCH%
x86_64

%BUILDDATE%
1676000000

%INSTALLDATE%
1676500000

%PACKAGER%
Morten Linderud <foxboron@archlinux.org>

%SIZE%
4773888

%LICENSE%
GPL2

%VALIDATION%
pgp

%DEPENDS%
bash
glibc

"""
PACMAN_FILES = b"""%FILES%
usr/
usr/bin/
usr/bin/pacman

"""
CONANINFO = b"""[settings]
    arch=x86_64
    build_type=Release
    compiler=gcc
    os=Linux

[requires]


[options]
    shared=False

[full_settings]
    arch=x86_64
    build_type=Release

[full_requires]


[full_options]
    shared=False

[recipe_hash]


[env]

"""
ROCKSPEC = b"""package = "LuaSocket"
version = "3.1.0-1"
source = {
   url = "git+https://github.com/lunarmodules/luasocket.git",
   tag = "v3.1.0"
}
description = {
   summary = "Network support for the Lua language",
   homepage = "https://github.com/lunarmodules/luasocket",
   license = "MIT"
}
dependencies = {
   "lua >= 5.1"
}
"""
COMPOSER_INSTALLED = {
    "packages": [
        {
            "name": "monolog/monolog",
            "version": "2.9.1",
            "version_normalized": "2.9.1.0",
            "source": {
                "type": "git",
                "url": "https://github.com/Seldaek/monolog.git",
                "reference": "f259e2b15fb95494c83f52d3caad003bbf5ffaa1",
            },
            "dist": {
                "type": "zip",
                "url": "https://api.github.com/repos/Seldaek/monolog/zipball/f259e2b15fb95494c83f52d3caad003bbf5ffaa1",
                "reference": "f259e2b15fb95494c83f52d3caad003bbf5ffaa1",
                "shasum": "",
            },
            "require": {"php": ">=7.2", "psr/log": "^1.0.1 || ^2.0 || ^3.0"},
            "type": "library",
            "license": ["MIT"],
            "authors": [{"name": "Jordi Boggiano", "email": "j.boggiano@seld.be"}],
            "description": "Sends your logs to files, sockets, inboxes, databases",
            "install-path": "../monolog/monolog",
        },
        {
            "name": "psr/log",
            "version": "3.0.0",
            "version_normalized": "3.0.0.0",
            "type": "library",
            "license": ["MIT"],
            "install-path": "../psr/log",
        },
    ],
    "dev": False,
    "dev-package-names": [],
}
PECL_REG = (
    b'a:5:{s:4:"name";s:6:"xdebug";s:7:"channel";s:12:"pecl.php.net";'
    b's:7:"summary";s:24:"Xdebug helps you debug.";'
    b's:7:"version";a:2:{s:7:"release";s:5:"3.2.1";s:3:"api";s:5:"3.2.0";}'
    b's:7:"license";a:2:{s:4:"attribs";a:1:{s:3:"uri";s:26:"https://xdebug.org/license";}'
    b's:8:"_content";s:6:"Xdebug";}}'
)
R_DESCRIPTION = b"""Package: jsonlite
Version: 1.8.4
Title: A Simple and Robust JSON Parser and Generator for R
License: MIT + file LICENSE
Author: Jeroen Ooms [aut, cre]
Maintainer: Jeroen Ooms <jeroen@berkeley.edu>
URL: https://arxiv.org/abs/1403.2805
Imports: methods
Built: R 4.2.2; x86_64-pc-linux-gnu; 2023-01-01 00:00:00 UTC; unix
"""
WORDPRESS_PLUGIN = b"""<?php
/*
Plugin Name: Akismet Anti-spam: Spam Protection
Plugin URI: https://akismet.com/
Description: Used by millions, Akismet protects your blog from spam.
Version: 5.3
Requires at least: 5.8
Requires PHP: 5.6.20
Author: Automattic - Anti-spam Team
Author URI: https://automattic.com/wordpress-plugins/
License: GPLv2 or later
Text Domain: akismet
*/
"""
CYCLONEDX = {
    "bomFormat": "CycloneDX",
    "specVersion": "1.5",
    "version": 1,
    "components": [
        {
            "type": "library",
            "name": "left-pad",
            "version": "1.3.0",
            "purl": "pkg:npm/left-pad@1.3.0",
        }
    ],
}
JDK = Path("/usr/lib/jvm/java-17-openjdk-amd64")
BINARIES = ("bash", "python3.11")


def _host_files() -> dict[str, Entry]:
    """A JDK's release file and launchers, and binaries the classifiers know, from this
    machine (left out where this machine lacks them)."""
    files: dict[str, Entry] = {}
    if (JDK / "release").is_file():
        for name in ("release", "bin/java", "bin/javac"):
            if (JDK / name).is_file():
                mode = 0o755 if name.startswith("bin/") else 0o644
                files[f"opt/jdk-17/{name}"] = File((JDK / name).read_bytes(), mode=mode)
    for binary in BINARIES:
        found = shutil.which(binary)
        if found is not None:
            files[f"usr/local/bin/{binary}"] = File(Path(found).resolve().read_bytes(), 0o755)
    return files


def ecosystems() -> ImageSpec:
    return ImageSpec(
        layers=[
            {
                "etc/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "lib/apk/db/installed": APK_INSTALLED,
                "var/lib/pacman/local/pacman-6.0.2-7/desc": PACMAN_DESC,
                "var/lib/pacman/local/pacman-6.0.2-7/files": PACMAN_FILES,
                "var/db/pkg/app-misc/hello-2.12/CONTENTS": (
                    b"dir /usr/bin\n"
                    b"obj /usr/bin/hello 2f0a43b3e5e7d5a1c2b4e6f8a0c2e4f6 1670000000\n"
                ),
                "var/db/pkg/app-misc/hello-2.12/LICENSE": b"GPL-3+\n",
                "var/db/pkg/app-misc/hello-2.12/SIZE": b"98304\n",
                "root/.conan/data/zlib/1.2.13/_/_/package/0a1b2c/conaninfo.txt": CONANINFO,
            },
            {
                "usr/local/lib/luarocks/rocks-5.4/luasocket/3.1.0-1/luasocket-3.1.0-1.rockspec": (
                    ROCKSPEC
                ),
                "var/www/app/vendor/composer/installed.json": json.dumps(
                    COMPOSER_INSTALLED
                ).encode(),
                "usr/share/php/.registry/.channel.pecl.php.net/xdebug.reg": PECL_REG,
                "usr/lib/R/site-library/jsonlite/DESCRIPTION": R_DESCRIPTION,
                "var/www/html/wp-content/plugins/akismet/akismet.php": WORDPRESS_PLUGIN,
                "opt/vendor/bom.cdx.json": json.dumps(CYCLONEDX).encode(),
                **_host_files(),
            },
        ]
    )


def test_every_image_cataloger_sees_the_same_packages_on_the_evidence(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_image(layout, ecosystems(), tag="1")
    image = pinned(layout, tmp_path / "cache", "1")
    whole, cold, warm = catalogs(image, tmp_path / "cache")
    found = {p.name for p in whole.packages}
    assert {
        "musl",  # apk
        "pacman",  # alpm
        "app-misc/hello",  # Portage
        "zlib",  # conan (and apk)
        "LuaSocket",
        "monolog/monolog",  # Composer
        "jsonlite",  # R
        "Akismet Anti-spam: Spam Protection",  # WordPress
    } <= found, found
    if (JDK / "release").is_file():
        assert "openjdk" in found
    if shutil.which("bash"):
        assert "bash" in found  # binary classifier
    assert cold == whole
    assert warm == whole
