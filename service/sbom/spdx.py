"""SPDX 2.3 JSON through spdx-tools, validated (as spdx-tools does) before it leaves.

The image is the package the document DESCRIBES; it CONTAINS every cataloged
package and the operating system. Licenses that are not SPDX expressions become
``LicenseRef-`` entries with their original text as extracted licensing info.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import datetime
from typing import Any

import msgspec
from license_expression import LicenseExpression
from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.jsonschema.document_converter import DocumentConverter
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.checksum import Checksum, ChecksumAlgorithm
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.extracted_licensing_info import ExtractedLicensingInfo
from spdx_tools.spdx.model.package import (
    ExternalPackageRef,
    ExternalPackageRefCategory,
    Package,
    PackagePurpose,
)
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion

import service
from service.catalog.model import Catalog, Distro
from service.catalog.model import Package as CatalogPackage
from service.catalog.purl import oci_purl
from service.errors import SBOMError
from service.sbom.identity import document_time, document_uuid
from service.sbom.json_text import indented
from service.sbom.licenses import LicenseTerm, combined_expression, license_terms
from service.sbom.spdx_validation import validation_messages

NAMESPACE_BASE = "https://tollgate.invalid/spdx"
DOCUMENT_ID = "SPDXRef-DOCUMENT"
IMAGE_ID = "SPDXRef-Image"
OPERATING_SYSTEM_ID = "SPDXRef-OperatingSystem"
_NOT_IDSTRING = re.compile(r"[^A-Za-z0-9.-]+")
_SHOWN_ERRORS = 5


def render_spdx(catalog: Catalog, *, created: datetime | None = None) -> str:
    """The catalog as an SPDX 2.3 JSON document describing the image."""
    document = _document(catalog, _with_ids(catalog.packages), created)
    return indented(_checked_json(document, catalog))


def extended_spdx(
    template: str,
    catalog: Catalog,
    added: tuple[CatalogPackage, ...],
    *,
    created: datetime | None = None,
) -> str | None:
    """The document :func:`render_spdx` gives for ``catalog``, from ``template``: the
    document of an image whose packages were ``catalog``'s but ``added`` (a base image
    that ``catalog``'s image adds a layer of packages to).

    A render lists the image, the packages in the catalog's order and the operating
    system, and their relationships in the same order, then every LicenseRef the
    packages need. Here only the document's own fields, the image, the operating system,
    the added packages, their relationships and the LicenseRefs are built, and validated
    as a render is; the base's packages and relationships are taken from ``template``
    and put in the catalog's order among them. Those were validated when ``template``
    was rendered: by the same SPDX version, with a subset of the LicenseRefs declared
    now, relating the image to packages still there. What is left to check across the
    two is that no id is in both. None when a base package's id is not the one
    ``template`` gives it (ids count the packages of one key in the catalog's order: a
    new package before a base package of its key renumbers that one), and when an id is
    in both (a render refuses that).
    """
    new = {id(package) for package in added}
    with_ids = _with_ids(catalog.packages)
    built = [(spdx_id, package) for spdx_id, package in with_ids if id(package) in new]
    kept = [spdx_id for spdx_id, package in with_ids if id(package) not in new]
    ends = [IMAGE_ID, *kept, *([OPERATING_SYSTEM_ID] if catalog.distro is not None else [])]
    document = msgspec.json.decode(template)
    base_packages, base_relationships = document["packages"], document["relationships"]
    ids = [DOCUMENT_ID, *ends, *(spdx_id for spdx_id, _ in built)]
    if (
        not built
        or [package["SPDXID"] for package in base_packages] != ends
        or [r["relatedSpdxElement"] for r in base_relationships] != ends
        or len(set(ids)) != len(ids)
    ):
        return None
    extended = _checked_json(_document(catalog, built, created), catalog)
    is_new = [id(package) in new for package in catalog.packages]
    extended["packages"] = _spliced(extended["packages"], base_packages, is_new)
    extended["relationships"] = _spliced(extended["relationships"], base_relationships, is_new)
    return indented(extended)


def _spliced(built: list[Any], base: list[Any], is_new: list[bool]) -> list[Any]:
    """A render's entries (one for the image, one per package in the catalog's order,
    one for the operating system) from ``built``, those of the new packages, and
    ``base``, those of the others: the image's and the system's are the ones built."""
    new_entries, base_entries = iter(built[1:]), iter(base[1:])
    return [built[0], *(next(new_entries if n else base_entries) for n in is_new), *new_entries]


def _document(
    catalog: Catalog, packages: list[tuple[str, CatalogPackage]], created: datetime | None
) -> Document:
    """The document of ``catalog`` holding ``packages`` (all of its packages for a
    render) and every LicenseRef its packages need."""
    image_name = _NOT_IDSTRING.sub("-", catalog.image.reference).strip("-")
    document = Document(
        creation_info=CreationInfo(
            spdx_version="SPDX-2.3",
            spdx_id=DOCUMENT_ID,
            name=catalog.image.reference,
            document_namespace=(f"{NAMESPACE_BASE}/{image_name}-{document_uuid(catalog, 'spdx')}"),
            creators=[
                Actor(ActorType.TOOL, f"tollgate-{service.__version__}"),
                Actor(ActorType.TOOL, f"{catalog.engine}-{catalog.engine_version}"),
            ],
            created=document_time(created),
        )
    )
    document.packages.append(_image_package(catalog))
    document.relationships.append(Relationship(DOCUMENT_ID, RelationshipType.DESCRIBES, IMAGE_ID))
    for spdx_id, package in packages:
        document.packages.append(_package(spdx_id, package, license_terms(package.licenses)))
        document.relationships.append(Relationship(IMAGE_ID, RelationshipType.CONTAINS, spdx_id))
    if catalog.distro is not None:
        document.packages.append(_operating_system(catalog.distro))
        document.relationships.append(
            Relationship(IMAGE_ID, RelationshipType.CONTAINS, OPERATING_SYSTEM_ID)
        )
    document.extracted_licensing_info = _extracted_licensing_info(catalog.packages)
    return document


def _extracted_licensing_info(
    packages: tuple[CatalogPackage, ...],
) -> list[ExtractedLicensingInfo]:
    """One per LicenseRef, sorted, with the text of the last package giving it (two
    texts can make one: ``MIT-like``, ``MIT like``)."""
    refs: dict[str, LicenseTerm] = {}
    for package in packages:
        refs.update((t.ref, t) for t in license_terms(package.licenses) if t.spdx is None)
    return [
        ExtractedLicensingInfo(license_id=ref, extracted_text=term.text, license_name=term.text)
        for ref, term in sorted(refs.items())
    ]


def _checked_json(document: Document, catalog: Catalog) -> dict[str, Any]:
    """``document`` as JSON, once it is valid."""
    errors = validation_messages(document)
    if errors:
        shown = "; ".join(e.validation_message for e in errors[:_SHOWN_ERRORS])
        raise SBOMError(
            f"the SPDX document for {catalog.image.reference} is invalid: {shown}",
            hint="report this as a Tollgate bug with the image reference",
        )
    converter = DocumentConverter()  # type: ignore[no-untyped-call]
    converted: dict[str, Any] = converter.convert(document)
    return converted


def _image_package(catalog: Catalog) -> Package:
    algorithm, _, digest = catalog.image.digest.partition(":")
    return Package(
        spdx_id=IMAGE_ID,
        name=catalog.image.reference,
        download_location=SpdxNoAssertion(),
        version=catalog.image.digest,
        files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, digest)] if algorithm == "sha256" else [],
        external_references=[
            ExternalPackageRef(
                ExternalPackageRefCategory.PACKAGE_MANAGER,
                "purl",
                oci_purl(catalog.image.reference, catalog.image.digest, catalog.image.platform),
            )
        ],
        primary_package_purpose=PackagePurpose.CONTAINER,
        comment=f"platform {catalog.image.platform}",
    )


def _with_ids(packages: tuple[CatalogPackage, ...]) -> list[tuple[str, CatalogPackage]]:
    """Stable SPDX ids: a readable name plus a hash of the package key, and a counter
    for the rare package an engine reports twice under one key."""
    seen: dict[str, int] = {}
    result = []
    for package in packages:
        seen[package.key] = seen.get(package.key, 0) + 1
        digest = hashlib.sha256(f"{package.key}#{seen[package.key]}".encode()).hexdigest()[:12]
        name = _NOT_IDSTRING.sub("-", package.name).strip("-")
        result.append((f"SPDXRef-Package-{package.type}-{name}-{digest}", package))
    return result


def _package(spdx_id: str, package: CatalogPackage, terms: tuple[LicenseTerm, ...]) -> Package:
    expression = combined_expression(terms)
    references = []
    if package.purl:
        references.append(
            ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", package.purl)
        )
    references += [
        ExternalPackageRef(
            ExternalPackageRefCategory.SECURITY,
            "cpe23Type" if cpe.startswith("cpe:2.3:") else "cpe22Type",
            cpe,
        )
        for cpe in package.cpes
    ]
    source_info = None
    if package.source_name:
        source_info = (
            f"built from source package {package.source_name} {package.source_version or ''}"
        )
    return Package(
        spdx_id=spdx_id,
        name=package.name,
        download_location=SpdxNoAssertion(),
        version=package.version or None,
        files_analyzed=False,
        source_info=source_info,
        license_concluded=SpdxNoAssertion(),
        license_declared=_parsed(expression) if expression else SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        external_references=references,
        primary_package_purpose=PackagePurpose.LIBRARY,
        comment=_locations(package),
    )


@functools.lru_cache(maxsize=4096)
def _parsed(expression: str) -> LicenseExpression:
    """The expression as spdx-tools' model holds it; the same few recur across packages
    (144 distinct among 427 in a Debian image), and parsing one takes about 0.1 ms."""
    return spdx_licensing.parse(expression)


def _locations(package: CatalogPackage) -> str | None:
    found = [
        f"{loc.path or '(no path)'} in layer {loc.layer}" if loc.layer else loc.path
        for loc in package.locations
    ]
    return "found at " + ", ".join(found) if found else None


def _operating_system(distro: Distro) -> Package:
    return Package(
        spdx_id=OPERATING_SYSTEM_ID,
        name=distro.id,
        download_location=SpdxNoAssertion(),
        version=distro.version_id or None,
        files_analyzed=False,
        primary_package_purpose=PackagePurpose.OPERATING_SYSTEM,
        comment=f"codename {distro.codename}" if distro.codename else None,
    )
