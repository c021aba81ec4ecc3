"""Package URLs Tollgate builds itself: for engine output that has none, and for images."""

from __future__ import annotations

from packageurl import PackageURL

from service.catalog.model import Distro, PackageType

_PURL_TYPES: dict[PackageType, str] = {
    PackageType.DEB: "deb",
    PackageType.APK: "apk",
    PackageType.RPM: "rpm",
    PackageType.PYTHON: "pypi",
    PackageType.NPM: "npm",
    PackageType.GO: "golang",
    PackageType.JAVA: "maven",
    PackageType.GEM: "gem",
    PackageType.CARGO: "cargo",
    PackageType.NUGET: "nuget",
    PackageType.PHP: "composer",
}

# Where the package name carries a namespace, and the separator before the last part.
_NAMESPACE_SEPARATORS: dict[PackageType, str] = {
    PackageType.NPM: "/",
    PackageType.GO: "/",
    PackageType.JAVA: ":",
    PackageType.PHP: "/",
}


def package_purl(
    package_type: PackageType,
    name: str,
    version: str,
    *,
    distro: Distro | None = None,
    arch: str = "",
) -> str | None:
    """A purl for a package an engine reported without one, or None for types purl
    has no scheme for. OS packages get the distro as namespace and qualifier, as Syft
    and Trivy write them; rpm carries its epoch as a qualifier, not in the version."""
    purl_type = _PURL_TYPES.get(package_type)
    if purl_type is None or not name:
        return None
    namespace: str | None = None
    qualifiers: dict[str, str] = {}
    if package_type.is_os:
        if distro is None:
            return None
        namespace = distro.id
        if arch:
            qualifiers["arch"] = arch
        if package_type is PackageType.RPM and ":" in version:
            epoch, version = version.split(":", 1)
            qualifiers["epoch"] = epoch
        if distro.version_id:
            qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
    elif package_type in _NAMESPACE_SEPARATORS:
        namespace, _, last = name.rpartition(_NAMESPACE_SEPARATORS[package_type])
        name = last
    elif package_type is PackageType.PYTHON:
        name = name.lower().replace("_", "-")
    return PackageURL(
        type=purl_type,
        namespace=namespace or None,
        name=name,
        version=version or None,
        qualifiers=qualifiers or None,
    ).to_string()


def oci_purl(reference: str, digest: str, platform: str) -> str:
    """``pkg:oci/<name>@<digest>?arch=..&repository_url=..&tag=..`` for an image
    reference such as ``127.0.0.1:5000/team/app:1.0`` (digest-qualified or not)."""
    without_digest = reference.split("@", 1)[0]
    repository, tag = without_digest, ""
    last_slash = without_digest.rfind("/")
    if ":" in without_digest[last_slash + 1 :]:
        repository, tag = without_digest.rsplit(":", 1)
    name = repository.rsplit("/", 1)[-1].lower() or "image"
    qualifiers = {"repository_url": repository}
    architecture = platform.split("/")[1] if platform.count("/") >= 1 else ""
    if architecture:
        qualifiers["arch"] = architecture
    if tag:
        qualifiers["tag"] = tag
    return PackageURL(type="oci", name=name, version=digest, qualifiers=qualifiers).to_string()
