"""Syft's ``syft-json`` report, parsed at this boundary into Tollgate's catalog.

Only the fields Tollgate uses are modelled; Syft's document is third-party and
grows between releases, so unknown fields are ignored rather than refused.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.catalog.interface import sorted_packages
from service.catalog.model import Catalog, Distro, ImageSubject, Location, Package, PackageType
from service.catalog.report import parse_report
from service.errors import EngineOutputError
from service.image.model import PinnedImage

logger = logging.getLogger(__name__)

_TYPES: dict[str, PackageType] = {
    "deb": PackageType.DEB,
    "apk": PackageType.APK,
    "rpm": PackageType.RPM,
    "python": PackageType.PYTHON,
    "npm": PackageType.NPM,
    "go-module": PackageType.GO,
    "java-archive": PackageType.JAVA,
    "jenkins-plugin": PackageType.JAVA,
    "graalvm-native-image": PackageType.JAVA,
    "gem": PackageType.GEM,
    "rust-crate": PackageType.CARGO,
    "dotnet": PackageType.NUGET,
    "php-composer": PackageType.PHP,
    "php-pecl": PackageType.PHP,
    "binary": PackageType.BINARY,
}

# "glibc (2.36-9)": a dpkg Source field carrying its own version.
_VERSIONED_SOURCE = re.compile(r"^(?P<name>\S+)\s+\((?P<version>[^)]+)\)$")
_SOURCE_RPM = re.compile(r"^(?P<name>.+)-(?P<version>[^-]+-[^-]+)\.(?:no)?src\.rpm$")


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _SyftLicense(_Lenient):
    value: str = ""
    spdx_expression: str = Field("", alias="spdxExpression")


class _SyftCpe(_Lenient):
    cpe: str


class _SyftLocation(_Lenient):
    path: str
    layer_id: str | None = Field(None, alias="layerID")


class _SyftArtifact(_Lenient):
    name: str
    version: str = ""
    type: str
    purl: str = ""
    licenses: list[_SyftLicense | str] = []
    cpes: list[_SyftCpe | str] = []
    locations: list[_SyftLocation] = []
    metadata_type: str = Field("", alias="metadataType")
    metadata: dict[str, Any] | None = None


class _SyftDistro(_Lenient):
    id: str = ""
    version_id: str = Field("", alias="versionID")
    version_codename: str = Field("", alias="versionCodename")


class SyftDocument(_Lenient):
    artifacts: list[_SyftArtifact]
    distro: _SyftDistro | None = None


class _DpkgMetadata(_Lenient):
    source: str = ""
    source_version: str = Field("", alias="sourceVersion")


class _ApkMetadata(_Lenient):
    origin_package: str = Field("", alias="originPackage")


class _RpmMetadata(_Lenient):
    source_rpm: str = Field("", alias="sourceRpm")


class _Version(_Lenient):
    version: str


def read_version(raw: bytes) -> str:
    """The version from ``syft version -o json``."""
    return parse_report("syft", _Version, raw).version


def read_catalog(raw: bytes, image: PinnedImage, *, engine_version: str) -> Catalog:
    """Tollgate's catalog of ``image`` from the raw syft-json Syft printed."""
    document = parse_report("syft", SyftDocument, raw)
    logger.info("syft found %d packages in %s", len(document.artifacts), image.display_name)
    return catalog_from_syft(document, ImageSubject.of(image), engine_version=engine_version)


def catalog_from_syft(
    document: SyftDocument, image: ImageSubject, *, engine_version: str
) -> Catalog:
    """Tollgate's catalog from a parsed syft-json document."""
    packages = [_package(artifact) for artifact in document.artifacts]
    return Catalog(
        image=image,
        distro=_distro(document.distro),
        packages=sorted_packages(packages),
        engine="syft",
        engine_version=engine_version,
    )


def _distro(distro: _SyftDistro | None) -> Distro | None:
    if distro is None or not distro.id:
        return None
    return Distro(id=distro.id, version_id=distro.version_id, codename=distro.version_codename)


def _package(artifact: _SyftArtifact) -> Package:
    package_type = _TYPES.get(artifact.type, PackageType.OTHER)
    source_name, source_version = _source(artifact)
    return Package(
        name=artifact.name,
        version=artifact.version,
        type=package_type,
        purl=artifact.purl or None,
        licenses=_licenses(artifact.licenses),
        cpes=tuple(dict.fromkeys(c if isinstance(c, str) else c.cpe for c in artifact.cpes)),
        locations=tuple(
            sorted(
                {Location(path=loc.path, layer=loc.layer_id) for loc in artifact.locations},
                key=lambda loc: (loc.path, loc.layer or ""),
            )
        ),
        source_name=source_name,
        source_version=source_version,
    )


def _licenses(licenses: list[_SyftLicense | str]) -> tuple[str, ...]:
    """SPDX expressions where Syft found one, the declared text otherwise."""
    found = (
        lic if isinstance(lic, str) else (lic.spdx_expression or lic.value) for lic in licenses
    )
    return tuple(sorted({text for text in found if text}))


def _source(artifact: _SyftArtifact) -> tuple[str | None, str | None]:
    """The source package OS advisories are written against."""
    metadata = artifact.metadata or {}
    try:
        if artifact.metadata_type == "dpkg-db-entry":
            return _dpkg_source(artifact, _DpkgMetadata.model_validate(metadata))
        if artifact.metadata_type == "apk-db-entry":
            apk = _ApkMetadata.model_validate(metadata)
            return (apk.origin_package or artifact.name), artifact.version
        if artifact.metadata_type == "rpm-db-entry":
            return _rpm_source(artifact, _RpmMetadata.model_validate(metadata))
    except ValidationError as exc:
        raise EngineOutputError(
            f"syft printed unreadable {artifact.metadata_type} metadata for {artifact.name}",
            hint="check that the installed syft version is supported",
        ) from exc
    return None, None


def _dpkg_source(artifact: _SyftArtifact, dpkg: _DpkgMetadata) -> tuple[str, str]:
    versioned = _VERSIONED_SOURCE.match(dpkg.source)
    if versioned:
        return versioned["name"], versioned["version"]
    return (dpkg.source or artifact.name), (dpkg.source_version or artifact.version)


def _rpm_source(artifact: _SyftArtifact, rpm: _RpmMetadata) -> tuple[str, str]:
    parsed = _SOURCE_RPM.match(rpm.source_rpm)
    if parsed is None:
        return artifact.name, artifact.version
    epoch = artifact.version.split(":", 1)[0] + ":" if ":" in artifact.version else ""
    return parsed["name"], epoch + parsed["version"]
