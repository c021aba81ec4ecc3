"""Trivy's JSON report (schema version 2), parsed at this boundary: the package listing
the cataloger asks for (Tollgate matches vulnerabilities itself, so Trivy runs without
its database and its vulnerability fields are not read)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from service.catalog.interface import sorted_packages
from service.catalog.model import Catalog, Distro, ImageSubject, Location, Package, PackageType
from service.catalog.purl import package_purl
from service.catalog.report import parse_report
from service.image.model import PinnedImage

logger = logging.getLogger(__name__)

_OS_FAMILIES: dict[str, tuple[str, PackageType]] = {
    # Trivy OS family -> (os-release ID, package type)
    "debian": ("debian", PackageType.DEB),
    "ubuntu": ("ubuntu", PackageType.DEB),
    "alpine": ("alpine", PackageType.APK),
    "wolfi": ("wolfi", PackageType.APK),
    "chainguard": ("chainguard", PackageType.APK),
    "redhat": ("rhel", PackageType.RPM),
    "centos": ("centos", PackageType.RPM),
    "rocky": ("rocky", PackageType.RPM),
    "alma": ("almalinux", PackageType.RPM),
    "amazon": ("amzn", PackageType.RPM),
    "oracle": ("ol", PackageType.RPM),
    "fedora": ("fedora", PackageType.RPM),
    "photon": ("photon", PackageType.RPM),
    "cbl-mariner": ("mariner", PackageType.RPM),
    "azurelinux": ("azurelinux", PackageType.RPM),
    "opensuse.leap": ("opensuse-leap", PackageType.RPM),
    "opensuse.tumbleweed": ("opensuse-tumbleweed", PackageType.RPM),
    "suse linux enterprise server": ("sles", PackageType.RPM),
}

_LANGUAGE_TYPES: dict[str, PackageType] = {
    **dict.fromkeys(("python-pkg", "pip", "pipenv", "poetry", "uv"), PackageType.PYTHON),
    **dict.fromkeys(("node-pkg", "npm", "yarn", "pnpm", "bun"), PackageType.NPM),
    **dict.fromkeys(("gobinary", "gomod"), PackageType.GO),
    **dict.fromkeys(("jar", "pom", "gradle", "sbt"), PackageType.JAVA),
    **dict.fromkeys(("gemspec", "bundler"), PackageType.GEM),
    **dict.fromkeys(("cargo", "rustbinary"), PackageType.CARGO),
    **dict.fromkeys(("nuget", "dotnet-core", "packages-props"), PackageType.NUGET),
    **dict.fromkeys(("composer", "composer-vendor"), PackageType.PHP),
}

# Trivy reads /etc/debian_version ("12.11"); advisories use the release codename.
_DEBIAN_CODENAMES = {
    "9": "stretch",
    "10": "buster",
    "11": "bullseye",
    "12": "bookworm",
    "13": "trixie",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Identifier(_Lenient):
    purl: str | None = Field(None, alias="PURL")


class _Layer(_Lenient):
    diff_id: str = Field("", alias="DiffID")


class _TrivyPackage(_Lenient):
    id: str = Field("", alias="ID")
    name: str = Field(alias="Name")
    version: str = Field("", alias="Version")
    release: str = Field("", alias="Release")
    epoch: int = Field(0, alias="Epoch")
    arch: str = Field("", alias="Arch")
    src_name: str = Field("", alias="SrcName")
    src_version: str = Field("", alias="SrcVersion")
    src_release: str = Field("", alias="SrcRelease")
    src_epoch: int = Field(0, alias="SrcEpoch")
    identifier: _Identifier = Field(default_factory=_Identifier, alias="Identifier")
    licenses: list[str] = Field(default_factory=list, alias="Licenses")
    layer: _Layer = Field(default_factory=_Layer, alias="Layer")
    file_path: str = Field("", alias="FilePath")


class _TrivyResult(_Lenient):
    target: str = Field("", alias="Target")
    result_class: str = Field("", alias="Class")
    type: str = Field("", alias="Type")
    packages: list[_TrivyPackage] = Field(default_factory=list, alias="Packages")


class _TrivyOS(_Lenient):
    family: str = Field("", alias="Family")
    name: str = Field("", alias="Name")


class _TrivyMetadata(_Lenient):
    os: _TrivyOS | None = Field(None, alias="OS")


class TrivyReport(_Lenient):
    schema_version: int = Field(alias="SchemaVersion")
    metadata: _TrivyMetadata = Field(default_factory=_TrivyMetadata, alias="Metadata")
    results: list[_TrivyResult] = Field(default_factory=list, alias="Results")


class _Version(_Lenient):
    version: str = Field(alias="Version")


def read_version(raw: bytes) -> str:
    """The version from ``trivy version --format json``."""
    return parse_report("trivy", _Version, raw).version


def read_catalog(raw: bytes, image: PinnedImage, *, engine_version: str) -> Catalog:
    """Tollgate's catalog of ``image`` from the raw JSON report Trivy printed."""
    report = parse_report("trivy", TrivyReport, raw)
    return catalog_from_trivy(report, ImageSubject.of(image), engine_version=engine_version)


def catalog_from_trivy(report: TrivyReport, image: ImageSubject, *, engine_version: str) -> Catalog:
    """Tollgate's catalog from a parsed Trivy JSON report."""
    distro = _distro(report.metadata.os)
    packages = [
        _package(result, package, distro)
        for result in report.results
        for package in result.packages
    ]
    logger.info("trivy found %d packages in %s", len(packages), image.reference)
    return Catalog(
        image=image,
        distro=distro,
        packages=sorted_packages(packages),
        engine="trivy",
        engine_version=engine_version,
    )


def _distro(os_info: _TrivyOS | None) -> Distro | None:
    if os_info is None or os_info.family not in _OS_FAMILIES:
        return None
    distro_id = _OS_FAMILIES[os_info.family][0]
    version = os_info.name
    if distro_id == "debian":
        version = version.split(".", 1)[0]
    return Distro(
        id=distro_id,
        version_id=version,
        codename=_DEBIAN_CODENAMES.get(version, "") if distro_id == "debian" else "",
    )


def _package_type(result: _TrivyResult) -> PackageType:
    if result.result_class == "os-pkgs" and result.type in _OS_FAMILIES:
        return _OS_FAMILIES[result.type][1]
    return _LANGUAGE_TYPES.get(result.type, PackageType.OTHER)


def _full_version(version: str, release: str, epoch: int) -> str:
    """Trivy splits OS package versions into epoch, version and release."""
    full = f"{version}-{release}" if release else version
    return f"{epoch}:{full}" if epoch else full


def _package(result: _TrivyResult, package: _TrivyPackage, distro: Distro | None) -> Package:
    package_type = _package_type(result)
    version = _full_version(package.version, package.release, package.epoch)
    source_name = source_version = None
    if package_type.is_os:
        source_name = package.src_name or package.name
        source_version = (
            _full_version(package.src_version, package.src_release, package.src_epoch)
            if package.src_version
            else version
        )
    locations: tuple[Location, ...] = ()
    if package.file_path or package.layer.diff_id:
        path = "/" + package.file_path.lstrip("/") if package.file_path else ""
        locations = (Location(path=path, layer=package.layer.diff_id or None),)
    return Package(
        name=package.name,
        version=version,
        type=package_type,
        purl=package.identifier.purl
        or package_purl(package_type, package.name, version, distro=distro, arch=package.arch),
        licenses=tuple(sorted(set(package.licenses))),
        locations=locations,
        source_name=source_name,
        source_version=source_version,
    )
