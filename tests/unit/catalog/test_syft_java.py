"""What :mod:`service.catalog.syft_java` reads as Syft 1.18.1 does, and what it leaves to
Syft. Its results are compared with Syft's own in
tests/integration/test_syft_evidence_parity.py."""

from __future__ import annotations

import io
import zipfile

import pytest

from service.catalog import syft_java
from service.catalog.syft_native import NotPlain

# Syft's TestExtractInfoFromJavaArchiveFilename (github.com/anchore/syft v1.18.1,
# syft/pkg/cataloger/java/archive_filename_test.go, Apache-2.0): file, name, version.
FILENAMES = [
    ("pkg-maven-4.3.2.blerg", "pkg-maven", "4.3.2"),
    ("pkg-maven.4.3.2.blerg", "pkg-maven", "4.3.2"),
    ("pkg-maven_4.3.2.blerg", "pkg-maven", "4.3.2"),
    ("pkg-maven-4.3.2.jar", "pkg-maven", "4.3.2"),
    ("pkg-extra-field-maven-4.3.2.war", "pkg-extra-field-maven", "4.3.2"),
    ("liferay-package.lpkg", "liferay-package", ""),
    ("pkg-extra-field-maven-4.3.2-rc1.ear", "pkg-extra-field-maven", "4.3.2-rc1"),
    ("pkg-extra-field-maven-4.3.2-rc1.par", "pkg-extra-field-maven", "4.3.2-rc1"),
    ("pkg-extra-field-maven-4.3.2-rc1.sar", "pkg-extra-field-maven", "4.3.2-rc1"),
    ("pkg-extra-field-maven-4.3.2-rc1.nar", "pkg-extra-field-maven", "4.3.2-rc1"),
    ("pkg-extra-field-maven-4.3.2-rc1.kar", "pkg-extra-field-maven", "4.3.2-rc1"),
    ("/some/path/pkg-extra-field-maven-4.3.2-rc1.jpi", "pkg-extra-field-maven", "4.3.2-rc1"),
    (
        "/some/path-with-version-5.4.3/pkg-extra-field-maven-4.3.2-rc1.hpi",
        "pkg-extra-field-maven",
        "4.3.2-rc1",
    ),
    (
        "/some/path-with-version-5.4.3/wagon-webdav-1.0.2-beta-2.2.3a-hudson.jar",
        "wagon-webdav",
        "1.0.2-beta-2.2.3a-hudson",
    ),
    (
        "/some/path-with-version-5.4.3/wagon-webdav-1.0.2-beta-2.2.3-hudson.jar",
        "wagon-webdav",
        "1.0.2-beta-2.2.3-hudson",
    ),
    (
        "/some/path-with-version-5.4.3/windows-remote-command-1.0.jar",
        "windows-remote-command",
        "1.0",
    ),
    (
        "/some/path-with-version-5.4.3/wagon-http-lightweight-1.0.5-beta-2.jar",
        "wagon-http-lightweight",
        "1.0.5-beta-2",
    ),
    (
        "/hudson.war:WEB-INF/lib/commons-jelly-1.1-hudson-20100305.jar",
        "commons-jelly",
        "1.1-hudson-20100305",
    ),
    (
        "/hudson.war:WEB-INF/lib/jtidy-4aug2000r7-dev-hudson-1.jar",
        "jtidy",
        "4aug2000r7-dev-hudson-1",
    ),
    (
        "/hudson.war:WEB-INF/lib/trilead-ssh2-build212-hudson-5.jar",
        "trilead-ssh2",
        "build212-hudson-5",
    ),
    ("/hudson.war:WEB-INF/lib/guava-r06.jar", "guava", "r06"),
    ("BOOT-INF/lib/spring-data-r2dbc-1.1.0.RELEASE.jar", "spring-data-r2dbc", "1.1.0.RELEASE"),
    ("jboss-saaj-api_1.4_spec-1.0.2.Final.jar", "jboss-saaj-api_1.4_spec", "1.0.2.Final"),
    ("/usr/share/java/gradle/lib/gradle-build-cache-8.1.1.jar", "gradle-build-cache", "8.1.1"),
]


@pytest.mark.parametrize(("path", "name", "version"), FILENAMES)
def test_names_and_versions_from_file_names_follow_syft(path: str, name: str, version: str) -> None:
    assert syft_java._archive_filename(path) == (name, version)


def _archive(manifest: str | None, entries: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        if manifest is not None:
            archive.writestr("META-INF/MANIFEST.MF", manifest)
        for name, content in (entries or {}).items():
            archive.writestr(name, content)
    return buffer.getvalue()


JRT = (
    "Manifest-Version: 1.0\r\nSpecification-Vendor: Oracle Corporation\r\n"
    "Implementation-Title: Java Runtime Environment\r\nImplementation-Version: 17.0.2\r\n"
    "Implementation-Vendor: Debian\r\n"
)


def test_a_manifest_only_archive_is_named_versioned_and_grouped_as_syft_does() -> None:
    jar = io.BytesIO(_archive(JRT))
    package = syft_java.package("usr/lib/jvm/x/lib/jrt-fs.jar", "sha256:l", jar)
    assert package is not None
    assert (package.name, package.version, package.purl) == (
        "jrt-fs",
        "17.0.2",
        "pkg:maven/jrt-fs/jrt-fs@17.0.2",
    )
    assert "cpe:2.3:a:oracle_corporation:jrt-fs:17.0.2:*:*:*:*:*:*:*" in package.cpes
    assert "cpe:2.3:a:debian:jrt_fs:17.0.2:*:*:*:*:*:*:*" in package.cpes


def test_a_missing_version_is_stubbed_after_the_purl_and_cpes() -> None:
    manifest = "Manifest-Version: 1.0\nMain-Class: org.debian.security.UpdateCertificates\n"
    package = syft_java.package(
        "usr/share/x/ca-certificates-java.jar", "sha256:l", io.BytesIO(_archive(manifest))
    )
    assert package is not None and package.version == "UNKNOWN"
    assert package.purl == "pkg:maven/org.debian.security.UpdateCertificates/ca-certificates-java"
    assert all(cpe.split(":")[5] == "*" for cpe in package.cpes)
    assert (
        "cpe:2.3:a:org.debian.security.UpdateCertificates:UpdateCertificates:*:*:*:*:*:*:*:*"
        in package.cpes
    )


def test_a_manifest_continuation_and_sections_are_read_as_syft_reads_them() -> None:
    manifest = "Implementation-Title: a\n  b\n\nName: x/\nImplementation-Version: 2.0\n"
    main, sections = syft_java._manifest(manifest.encode())
    assert main == [("Implementation-Title", "ab")]
    assert sections == [[("Name", "x/"), ("Implementation-Version", "2.0")]]


@pytest.mark.parametrize(
    "content",
    [
        _archive(JRT, {"META-INF/maven/g/a/pom.properties": b"version=1\n"}),
        _archive(JRT, {"lib/inner.jar": b"PK"}),
        _archive(JRT, {"META-INF/LICENSE": b"MIT"}),
        _archive(JRT, {"license.txt": b"MIT"}),  # Syft matches these without regard to case
        _archive(JRT + "Bundle-License: MIT\n"),
        b"not a zip",
    ],
)
def test_archives_syft_reads_more_of_are_left_to_it(content: bytes) -> None:
    with pytest.raises(NotPlain):
        syft_java.package("opt/x.jar", "sha256:l", io.BytesIO(content))


def test_an_archive_without_a_manifest_or_with_weave_classes_is_no_package() -> None:
    bare = io.BytesIO(_archive(None, {"a/B.class": b""}))
    assert syft_java.package("opt/x.jar", "sha256:l", bare) is None
    weave = io.BytesIO(_archive("Weave-Classes: x\nImplementation-Version: 1\n"))
    assert syft_java.package("opt/x.jar", "sha256:l", weave) is None


def test_a_manifest_the_zip_reader_cannot_inflate_is_left_to_syft() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("META-INF/MANIFEST.MF", JRT * 20)
    content = bytearray(buffer.getvalue())
    start = content.index(b"PK\x03\x04") + 30 + len("META-INF/MANIFEST.MF")
    content[start : start + 16] = b"\xff" * 16  # the deflate stream, corrupted
    with pytest.raises(NotPlain):
        syft_java.package("opt/x.jar", "sha256:l", io.BytesIO(bytes(content)))


def _many_entries(count: int, comment: bytes = b"") -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", JRT)
        for index in range(count):
            archive.writestr(f"c/{index}.class", b"")
        archive.comment = comment
    buffer.seek(0)
    return buffer


def test_an_archive_whose_zip_directory_is_too_large_to_hold_is_left_to_syft(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(syft_java, "_MAX_ENTRIES", 50)
    assert syft_java.package("opt/x.jar", "sha256:l", _many_entries(40)) is not None
    for archive in (
        _many_entries(60),
        _many_entries(60, comment=b"the record is found before a comment too"),
    ):
        with pytest.raises(NotPlain, match="a zip directory of 61 entries"):
            syft_java.package("opt/x.jar", "sha256:l", archive)
