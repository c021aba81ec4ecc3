"""CycloneDX 1.6 JSON through cyclonedx-python-lib, schema-validated before it leaves."""

from __future__ import annotations

import functools
import json
from collections.abc import Hashable, Iterator
from datetime import datetime

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.spdx import is_supported_id
from cyclonedx.validation.json import JsonStrictValidator
from jsonschema import ValidationError, validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from packageurl import PackageURL

import service
from service.catalog.model import Catalog, Distro, Package
from service.catalog.purl import oci_purl
from service.errors import SBOMError
from service.sbom.identity import document_time, document_uuid
from service.sbom.licenses import LicenseTerm, combined_expression, license_terms

PROPERTY_PREFIX = "tollgate"


def render_cyclonedx(catalog: Catalog, *, created: datetime | None = None) -> str:
    """The catalog as a CycloneDX 1.6 JSON document describing the image."""
    root = Component(
        type=ComponentType.CONTAINER,
        name=catalog.image.reference,
        version=catalog.image.digest,
        bom_ref="image",
        purl=PackageURL.from_string(
            oci_purl(catalog.image.reference, catalog.image.digest, catalog.image.platform)
        ),
        properties=[Property(name=f"{PROPERTY_PREFIX}:platform", value=catalog.image.platform)],
    )
    bom = Bom(
        serial_number=document_uuid(catalog, "cyclonedx"),
        metadata=BomMetaData(timestamp=document_time(created), component=root),
    )
    for name, version in (
        ("tollgate", service.__version__),
        (catalog.engine, catalog.engine_version),
    ):
        bom.metadata.tools.components.add(
            Component(type=ComponentType.APPLICATION, name=name, version=version)
        )
    components = _components(catalog.packages)
    if catalog.distro is not None:
        components.append(_operating_system(catalog.distro))
    bom.components.update(components)
    bom.register_dependency(root, components)
    document = JsonV1Dot6(bom).output_as_string(indent=2)
    error = best_match(_validator().iter_errors(json.loads(document)))
    if error is not None:
        raise SBOMError(
            f"the CycloneDX document for {catalog.image.reference} is invalid: {error.message}",
            hint="report this as a Tollgate bug with the image reference",
        )
    return document


@functools.cache
def _validator() -> Validator:
    """cyclonedx-python-lib's strict CycloneDX 1.6 validator (its schema, registry and
    format checks), built once, with ``uniqueItems`` checked in linear time: jsonschema
    compares every pair of an array of objects (seconds for a few hundred components)."""
    strict = JsonStrictValidator(SchemaVersion.V1_6)._validator
    linear = validators.extend(type(strict), {"uniqueItems": _unique_items})
    checked: Validator = linear(
        strict.schema,
        registry=strict._registry,
        format_checker=strict.format_checker,
    )
    return checked


def _unique_items(
    validator: Validator, unique: bool, instance: object, schema: object
) -> Iterator[ValidationError]:
    """jsonschema's ``uniqueItems``, by hashing: equal JSON values (``1`` and ``1.0``
    alike, ``true`` and ``1`` not) have equal keys."""
    if unique and isinstance(instance, list):
        keys = [_json_key(item) for item in instance]
        if len(set(keys)) != len(keys):
            yield ValidationError(f"{instance!r} has non-unique elements")


def _json_key(value: object) -> Hashable:
    if isinstance(value, dict):
        return ("object", frozenset((key, _json_key(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(_json_key(item) for item in value))
    if isinstance(value, bool):  # not a number: True == 1 in Python, not in JSON
        return ("boolean", value)
    return ("value", value)


def _components(packages: tuple[Package, ...]) -> list[Component]:
    seen: dict[str, int] = {}
    components = []
    for package in packages:
        seen[package.key] = seen.get(package.key, 0) + 1
        ref = package.key if seen[package.key] == 1 else f"{package.key}#{seen[package.key]}"
        components.append(_component(package, ref))
    return components


def _component(package: Package, ref: str) -> Component:
    properties = [Property(name=f"{PROPERTY_PREFIX}:package-type", value=str(package.type))]
    if package.source_name:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}:source-name", value=package.source_name)
        )
    if package.source_version:
        properties.append(
            Property(name=f"{PROPERTY_PREFIX}:source-version", value=package.source_version)
        )
    properties += [Property(name=f"{PROPERTY_PREFIX}:cpe23", value=cpe) for cpe in package.cpes[1:]]
    for location in package.locations:
        if location.path:
            properties.append(Property(name=f"{PROPERTY_PREFIX}:location", value=location.path))
        if location.layer:
            properties.append(Property(name=f"{PROPERTY_PREFIX}:layer", value=location.layer))
    return Component(
        type=ComponentType.LIBRARY,
        name=package.name,
        version=package.version,
        bom_ref=ref,
        purl=_purl(package.purl),
        cpe=package.cpes[0] if package.cpes else None,
        licenses=_licenses(license_terms(package.licenses)),
        properties=properties,
    )


def _operating_system(distro: Distro) -> Component:
    properties = (
        [Property(name=f"{PROPERTY_PREFIX}:codename", value=distro.codename)]
        if distro.codename
        else []
    )
    return Component(
        type=ComponentType.OPERATING_SYSTEM,
        name=distro.id,
        version=distro.version_id or None,
        bom_ref=f"os:{distro.id}@{distro.version_id}",
        properties=properties,
    )


def _purl(purl: str | None) -> PackageURL | None:
    """The engine's purl, or none when it does not parse (the name and version remain)."""
    if purl is None:
        return None
    try:
        return PackageURL.from_string(purl)
    except ValueError:
        return None


def _licenses(terms: tuple[LicenseTerm, ...]) -> list[License]:
    """One license entry per term, or one expression when any term is compound
    (CycloneDX does not allow mixing the two)."""
    if any(term.compound for term in terms):
        expression = combined_expression(terms)
        return [LicenseExpression(expression)] if expression else []
    return [
        DisjunctiveLicense(id=term.spdx)
        if term.spdx is not None and is_supported_id(term.spdx)
        else DisjunctiveLicense(name=term.text)
        for term in terms
    ]
