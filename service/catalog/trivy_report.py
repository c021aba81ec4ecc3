"""Trivy's JSON report (schema version 2), parsed at this boundary: the package
listing the cataloger asks for, and the vulnerability reports Trivy writes where it
does have its database (``parse_trivy_findings``)."""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from service.catalog.interface import sorted_packages
from service.catalog.model import Catalog, Distro, ImageSubject, Location, Package, PackageType
from service.catalog.purl import package_purl
from service.catalog.report import parse_report
from service.image.model import PinnedImage
from service.vulndb.model import Finding, PackageRef, Severity

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

_SEVERITIES = {
    "UNKNOWN": Severity.UNKNOWN,
    "LOW": Severity.LOW,
    "MEDIUM": Severity.MEDIUM,
    "HIGH": Severity.HIGH,
    "CRITICAL": Severity.CRITICAL,
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


class _CvssEntry(_Lenient):
    v2_vector: str = Field("", alias="V2Vector")
    v3_vector: str = Field("", alias="V3Vector")
    v40_vector: str = Field("", alias="V40Vector")
    v2_score: float | None = Field(None, alias="V2Score")
    v3_score: float | None = Field(None, alias="V3Score")
    v40_score: float | None = Field(None, alias="V40Score")


class _TrivyVulnerability(_Lenient):
    vulnerability_id: str = Field(alias="VulnerabilityID")
    vendor_ids: list[str] = Field(default_factory=list, alias="VendorIDs")
    pkg_id: str = Field("", alias="PkgID")
    pkg_name: str = Field(alias="PkgName")
    pkg_identifier: _Identifier = Field(default_factory=_Identifier, alias="PkgIdentifier")
    installed_version: str = Field("", alias="InstalledVersion")
    fixed_version: str = Field("", alias="FixedVersion")
    severity: str = Field("UNKNOWN", alias="Severity")
    severity_source: str = Field("", alias="SeveritySource")
    cvss: dict[str, _CvssEntry] = Field(default_factory=dict, alias="CVSS")
    title: str = Field("", alias="Title")
    description: str = Field("", alias="Description")


class _TrivyResult(_Lenient):
    target: str = Field("", alias="Target")
    result_class: str = Field("", alias="Class")
    type: str = Field("", alias="Type")
    packages: list[_TrivyPackage] = Field(default_factory=list, alias="Packages")
    vulnerabilities: list[_TrivyVulnerability] = Field(
        default_factory=list, alias="Vulnerabilities"
    )


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


def parse_trivy_findings(report_json: bytes | str) -> list[Finding]:
    """Findings (source ``trivy``) from a Trivy JSON vulnerability report."""
    report = parse_report(
        "trivy", TrivyReport, report_json.encode() if isinstance(report_json, str) else report_json
    )
    distro = _distro(report.metadata.os)
    findings: list[Finding] = []
    for result in report.results:
        installed = {
            (p.id or f"{p.name}@{_full_version(p.version, p.release, p.epoch)}"): _package(
                result, p, distro
            )
            for p in result.packages
        }
        findings.extend(
            _finding(result, vulnerability, installed, distro)
            for vulnerability in result.vulnerabilities
        )
    return findings


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


def _finding(
    result: _TrivyResult,
    vulnerability: _TrivyVulnerability,
    installed: dict[str, Package],
    distro: Distro | None,
) -> Finding:
    package_type = _package_type(result)
    package = installed.get(vulnerability.pkg_id)
    purl = vulnerability.pkg_identifier.purl or (
        package.purl
        if package is not None
        else package_purl(
            package_type, vulnerability.pkg_name, vulnerability.installed_version, distro=distro
        )
    )
    fixed = _fixed_versions(vulnerability.fixed_version)
    score, vector = _cvss(vulnerability)
    return Finding(
        id=vulnerability.vulnerability_id,
        aliases=tuple(
            alias for alias in vulnerability.vendor_ids if alias != vulnerability.vulnerability_id
        ),
        severity=_SEVERITIES.get(vulnerability.severity.upper(), Severity.UNKNOWN),
        cvss_score=score,
        cvss_vector=vector,
        package=PackageRef(
            name=vulnerability.pkg_name,
            version=vulnerability.installed_version,
            type=str(package_type),
            purl=purl,
        ),
        fixed_versions=fixed,
        fix_available=bool(fixed),
        source="trivy",
        summary=vulnerability.title or vulnerability.description.split("\n", 1)[0],
    )


def _fixed_versions(fixed_version: str) -> tuple[str, ...]:
    """``"1.2-3"`` or, for language packages, patched ranges such as
    ``">= 3.1.0, >= 2.1.3, < 3.0.0"``: the lower bounds are the fixed versions."""
    versions = []
    for part in (p.strip() for p in fixed_version.split(",")):
        if not part or part.startswith("<"):
            continue
        versions.append(part.removeprefix(">=").removeprefix("=").strip())
    return tuple(dict.fromkeys(versions))


def _cvss(vulnerability: _TrivyVulnerability) -> tuple[float | None, str | None]:
    """The CVSS of the severity's own source, else NVD's, else any: v3 before v4 before v2."""
    order = [vulnerability.severity_source, "nvd", *sorted(vulnerability.cvss)]
    entries = [vulnerability.cvss[s] for s in dict.fromkeys(order) if s in vulnerability.cvss]
    for entry in entries:
        if entry.v3_score is not None:
            return entry.v3_score, entry.v3_vector or None
    for entry in entries:
        if entry.v40_score is not None:
            return entry.v40_score, entry.v40_vector or None
    for entry in entries:
        if entry.v2_score is not None:
            return entry.v2_score, entry.v2_vector or None
    return None, None
