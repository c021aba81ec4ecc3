"""Tollgate's package model: the same shape whichever engine produced it."""

from __future__ import annotations

from enum import StrEnum

from service.image.model import PinnedImage
from service.model_base import FrozenModel


class PackageType(StrEnum):
    DEB = "deb"
    APK = "apk"
    RPM = "rpm"
    PYTHON = "python"
    NPM = "npm"
    GO = "go"
    JAVA = "java"
    GEM = "gem"
    CARGO = "cargo"
    NUGET = "nuget"
    PHP = "php"
    BINARY = "binary"
    OTHER = "other"

    @property
    def is_os(self) -> bool:
        return self in (PackageType.DEB, PackageType.APK, PackageType.RPM)


class Location(FrozenModel):
    path: str
    layer: str | None = None  # diff_id of the layer that introduced the file


class Distro(FrozenModel):
    id: str  # os-release ID: debian, alpine, ubuntu, rhel, ...
    version_id: str = ""  # os-release VERSION_ID: 12, 3.19.1, 22.04
    codename: str = ""


class Package(FrozenModel):
    name: str
    version: str
    type: PackageType
    purl: str | None = None
    licenses: tuple[str, ...] = ()
    cpes: tuple[str, ...] = ()
    locations: tuple[Location, ...] = ()
    source_name: str | None = None  # OS packages: the source package advisories name
    source_version: str | None = None

    @property
    def key(self) -> str:
        """Stable identity within one image."""
        return self.purl or f"{self.type}:{self.name}@{self.version}"


class ImageSubject(FrozenModel):
    """The image an SBOM or report describes."""

    reference: str
    digest: str
    platform: str

    @classmethod
    def of(cls, image: PinnedImage) -> ImageSubject:
        return cls(reference=image.display_name, digest=image.digest, platform=str(image.platform))


class Catalog(FrozenModel):
    """Everything an engine found in one image, sorted by package key."""

    image: ImageSubject
    distro: Distro | None = None
    packages: tuple[Package, ...]
    engine: str
    engine_version: str

    def for_image(self, image: PinnedImage) -> Catalog:
        """This catalog as the catalog of ``image`` (the same digest, perhaps another name)."""
        return self.model_copy(update={"image": ImageSubject.of(image)})
