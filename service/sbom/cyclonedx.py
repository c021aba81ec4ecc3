"""CycloneDX 1.6 JSON through cyclonedx-python-lib, schema-validated before it leaves."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Iterable, MutableSet
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import jsonschema_rs
import msgspec
from cyclonedx.model import Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.dependency import Dependency
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.schema import SchemaVersion
from cyclonedx.schema._res import BOM_JSON  # the schema files the library ships
from cyclonedx.schema.schema import SchemaVersion1Dot6
from cyclonedx.spdx import is_supported_id
from packageurl import PackageURL

import service
from service.catalog.model import Catalog, Distro, Package
from service.catalog.purl import oci_purl
from service.errors import SBOMError
from service.sbom import forked
from service.sbom.identity import document_time, document_uuid
from service.sbom.json_text import indented
from service.sbom.licenses import LicenseTerm, combined_expression, license_terms

PROPERTY_PREFIX = "tollgate"
log = logging.getLogger(__name__)


def render_cyclonedx(catalog: Catalog, *, created: datetime | None = None) -> str:
    """The catalog as a CycloneDX 1.6 JSON document describing the image: where it may
    (:mod:`service.sbom.forked`), half its packages rendered in a forked child while the
    other half is here, and the two put together as an extended document is."""
    kept, sent = _halves(catalog.packages)
    if len(sent) < forked.MIN_FORKED or not forked.may_fork():
        return _checked(_generated(bom_of(catalog, created)), catalog)
    log.info("rendering %d of %d components in a forked child", len(sent), len(catalog.packages))
    alone = catalog.model_copy(update={"packages": sent, "distro": None})
    pending = forked.started(lambda: msgspec.json.encode(_generated(bom_of(alone, created))))
    try:
        document = _generated(bom_of(catalog.model_copy(update={"packages": kept}), created))
    finally:
        answer = pending()
    new = msgspec.json.decode(answer) if answer is not None else None
    return _merged(document, catalog, new or _generated(bom_of(alone, created)), fresh=True)


def _halves(packages: tuple[Package, ...]) -> tuple[tuple[Package, ...], tuple[Package, ...]]:
    """``packages`` in two parts that render as the whole does: every other package whose
    key no other package has, and the rest in their order (a key's packages are numbered
    in the order they come: all stay in one part)."""
    counts: dict[str, int] = {}
    for package in packages:
        counts[package.key] = counts.get(package.key, 0) + 1
    kept: list[Package] = []
    sent: list[Package] = []
    for number, package in enumerate(packages):
        (sent if number % 2 and counts[package.key] == 1 else kept).append(package)
    return tuple(kept), tuple(sent)


def bom_of(catalog: Catalog, created: datetime | None) -> Bom:
    """The library's model of the catalog's document."""
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
    _add_in_order(bom.components, components, key=_component_order)
    _add_in_order(bom.dependencies, _dependencies(root, components), key=_dependency_order)
    return bom


# What the library's JSON 1.6 writer adds to the BOM's own fields, after them.
_JSON_CORE = {
    "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
    "bomFormat": "CycloneDX",
    "specVersion": SchemaVersion.V1_6.to_version(),
}


def _generated(bom: Bom) -> dict[str, Any]:
    """What ``JsonV1Dot6(bom).output_as_string()`` writes, built as its ``generate``
    builds it but for three steps that change nothing in Tollgate's documents: the
    data-model check ``Bom.validate()`` (deprecated there: that every component has a
    dependency entry, that every dependency names a component, that no component mixes a
    license expression with licenses), the bom-refs made unique (they are: a repeated key
    is numbered) and the dependency graph flattened (it is flat: the image depends on
    every component, which depend on nothing). All hold by construction
    (:func:`_components`, :func:`_dependencies`, :func:`_licenses`) and the schema check
    follows. Those steps look each component up among the dependencies one by one, hash
    every component whole and rebuild every dependency: 0.25 s of a 0.5 s render of 450
    packages. A test holds the output equal to the writer's."""
    document: dict[str, Any] = msgspec.json.decode(
        bom.as_json(view_=SchemaVersion1Dot6)  # type: ignore[attr-defined]
    )
    document.update(_JSON_CORE)
    return document


def resubjected_cyclonedx(
    template: str, catalog: Catalog, *, created: datetime | None = None
) -> str:
    """The document :func:`render_cyclonedx` gives for ``catalog``, from ``template``,
    rendered for another image with the same packages, distro and engine run: only the
    serial number and the metadata (the image, the tools, the time) depend on the image;
    the components and the dependencies (on the root's fixed bom-ref) do not."""
    return _made_for(msgspec.json.decode(template), catalog, (), created)


def extended_cyclonedx(
    template: str,
    catalog: Catalog,
    added: tuple[Package, ...],
    *,
    created: datetime | None = None,
) -> str | None:
    """The document :func:`render_cyclonedx` gives for ``catalog``, from ``template``:
    the document of an image whose packages were ``catalog``'s but ``added`` (a base
    image that ``catalog``'s image adds a layer of packages to). The new components and
    their dependency entries are rendered alone and put where the library's sorted sets
    keep them: components by type, group, name, version and bom-ref (unique, so nothing
    after it is compared; a missing value after any other), dependencies by ref. None
    when a new package shares its key with another (bom-refs would be renumbered).
    """
    added_keys = [package.key for package in added]
    if not added or len(set(added_keys)) != len(added_keys):
        return None
    kept = {id(package) for package in added}
    if not set(added_keys).isdisjoint(p.key for p in catalog.packages if id(p) not in kept):
        return None
    return _made_for(msgspec.json.decode(template), catalog, added, created)


def _made_for(
    document: dict[str, Any],
    catalog: Catalog,
    added: tuple[Package, ...],
    created: datetime | None,
) -> str:
    """``document`` made ``catalog``'s: the serial number and metadata of ``catalog``'s
    image, and the components and dependency entries of ``added`` (rendered alone, with
    the metadata) put in place."""
    alone = catalog.model_copy(update={"packages": added, "distro": None})
    return _merged(document, catalog, _generated(bom_of(alone, created)), fresh=False)


def _merged(document: dict[str, Any], catalog: Catalog, new: dict[str, Any], *, fresh: bool) -> str:
    """``document`` made ``catalog``'s: the serial number, the metadata of ``new`` (the
    document of other packages of ``catalog``, alone) and its components and dependency
    entries put in place.

    Each part is checked against the schema before, ``document`` only when ``fresh``
    (not a template checked when it was rendered): what they make is valid when they
    are, its components and dependency entries theirs, of distinct bom-refs. On a push,
    checking the 1 MB document of a base again took more than the rest of its merge."""
    _validated(new, catalog)
    if fresh:
        _validated(document, catalog)
    document["serialNumber"] = f"urn:uuid:{document_uuid(catalog, 'cyclonedx')}"
    document["metadata"] = new["metadata"]
    if new.get("components"):
        document["components"] = sorted(
            [*document["components"], *new["components"]], key=_json_component_order
        )
        root = new["metadata"]["component"]["bom-ref"]
        image = _dependency(document, root)
        depends_on = [*image.get("dependsOn", []), *_dependency(new, root)["dependsOn"]]
        image["dependsOn"] = sorted(depends_on)
        entries = [entry for entry in new["dependencies"] if entry["ref"] != root]
        document["dependencies"] = sorted(
            [*document["dependencies"], *entries], key=lambda entry: str(entry["ref"])
        )
    return indented(document)


def _dependency(document: dict[str, Any], ref: str) -> dict[str, Any]:
    """The dependency entry of ``ref`` in ``document``."""
    entry: dict[str, Any] = next(e for e in document["dependencies"] if e["ref"] == ref)
    return entry


def _json_component_order(component: dict[str, Any]) -> _Order:
    """:func:`_component_order` of a component as the document holds it."""
    return (
        component["type"],
        "group" not in component,
        component.get("group", ""),
        component["name"],
        "version" not in component,
        component.get("version", ""),
        component["bom-ref"],
    )


def _checked(document: dict[str, Any], catalog: Catalog) -> str:
    """``document`` as the library writes it (``indent=2``), once it is valid against
    the CycloneDX 1.6 schema."""
    _validated(document, catalog)
    return indented(document)


def _validated(document: dict[str, Any], catalog: Catalog) -> None:
    """SBOMError unless ``document`` is valid against the CycloneDX 1.6 schema."""
    error = next(schema_validator().iter_errors(document), None)
    if error is not None:
        raise SBOMError(
            f"the CycloneDX document for {catalog.image.reference} is invalid"
            f" at /{'/'.join(map(str, error.instance_path))}: {_shortened(error.message)}",
            hint="report this as a Tollgate bug with the image reference",
        )


# Schemas the CycloneDX schema refers to by relative $ref resolve against its $id here.
_SCHEMA_BASE = "http://cyclonedx.org/schema/"
_SHOWN_MESSAGE = 300  # characters: a message quotes the failing value, all components at worst


@functools.cache
def schema_validator() -> jsonschema_rs.Validator:
    """The CycloneDX 1.6 JSON schema that cyclonedx-python-lib's strict validator uses,
    compiled by jsonschema-rs with its format checks (date-time, iri-reference,
    idn-email, uri) and built once: a few milliseconds per document where jsonschema's
    pure-Python descent took half a second for a few hundred components."""
    shipped = BOM_JSON[SchemaVersion.V1_6]
    assert shipped is not None  # the library writes 1.6 JSON: it ships its schema
    schema = Path(shipped)
    try:
        return jsonschema_rs.validator_for(
            json.loads(schema.read_text()),
            validate_formats=True,
            retriever=functools.partial(_shipped_schema, schema.parent),
        )
    except jsonschema_rs.ValidationError as error:  # a $ref to a file it does not ship
        raise SBOMError(
            f"cannot compile the CycloneDX schema: {error.message}",
            hint="reinstall Tollgate with a cyclonedx-python-lib release it supports",
        ) from error


def _shipped_schema(directory: Path, uri: str) -> Any:
    """A schema the CycloneDX schema refers to (SPDX license ids, JSF signatures), read
    from the file the library ships beside it: nothing is fetched over the network."""
    name = uri.removeprefix(_SCHEMA_BASE)
    path = directory / name
    if name == uri or "/" in name or not path.is_file():
        raise LookupError(f"cyclonedx-python-lib does not ship {uri}")
    return json.loads(path.read_text())


def _shortened(message: str) -> str:
    return message if len(message) <= _SHOWN_MESSAGE else message[:_SHOWN_MESSAGE] + "…"


_Item = TypeVar("_Item")
_Order = tuple[bool | str, ...]


def _add_in_order(
    target: MutableSet[_Item], items: Iterable[_Item], *, key: Callable[[_Item], _Order]
) -> None:
    """Add ``items`` to one of the library's sorted sets, in the order it keeps them.

    ``update`` puts what it is given through a ``set`` and sorts it all again: for a few
    hundred components that is thousands of comparisons, each of which builds the library's
    comparison tuple of two whole components. Added one by one in the set's own order,
    each item costs one comparison. ``key`` only has to approximate that order: in any
    other the set still ends sorted the same (the document is identical), only slower.
    """
    for item in sorted(items, key=key):
        target.add(item)


def _component_order(component: Component) -> _Order:
    """The fields the library compares components by first (type, group, name, version,
    bom-ref: unique in a document), a missing value after any other."""
    return (
        component.type.value,
        component.group is None,
        component.group or "",
        component.name,
        component.version is None,
        component.version or "",
        str(component.bom_ref),
    )


def _dependency_order(dependency: Dependency) -> _Order:
    return (str(dependency.ref),)


def _dependencies(root: Component, components: list[Component]) -> list[Dependency]:
    """What ``Bom.register_dependency(root, components)`` records, in one pass: the image
    depends on every component, which depend on nothing (that method looks each target
    up among the dependencies registered so far: quadratic in the components)."""
    direct = Dependency(ref=root.bom_ref)
    _add_in_order(
        direct.dependencies,
        (Dependency(ref=c.bom_ref) for c in components),
        key=_dependency_order,
    )
    return [direct, *(Dependency(ref=c.bom_ref) for c in components)]


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
