"""SBOMs rendered from real engine output: valid, complete, and reproducible."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.model.document import Document
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from service.catalog.model import Catalog, Package, PackageType
from service.errors import SBOMError
from service.sbom import SbomFormat, cyclonedx, extended, forked, render, resubjected
from service.sbom.cyclonedx import bom_of
from service.sbom.spdx_validation import validation_messages
from tests.unit.catalog.fixtures import syft_catalog, trivy_catalog

CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
CATALOGS = {"syft": syft_catalog, "trivy": trivy_catalog}


def _with_odd_licenses(catalog: Catalog) -> Catalog:
    odd = Package(
        name="odd",
        version="1.0",
        type=PackageType.NPM,
        purl="pkg:npm/odd@1.0",
        licenses=(
            "MIT OR Apache-2.0",
            "GPL-3+ with Bison exception",
            "Custom: see LICENSE",
            "MIT/X11",
        ),
    )
    return catalog.model_copy(update={"packages": (*catalog.packages, odd)})


@pytest.mark.parametrize("engine", CATALOGS)
def test_cyclonedx_is_valid_1_6_and_describes_the_image(engine: str) -> None:
    catalog = CATALOGS[engine]()
    document = render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(document) is None
    bom = json.loads(document)
    root = bom["metadata"]["component"]
    assert root["type"] == "container"
    assert root["purl"].startswith("pkg:oci/engines-test@" + catalog.image.digest)
    assert bom["metadata"]["timestamp"].startswith("2024-01-02T03:04:05")
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    assert sorted(c["name"] for c in libraries) == sorted(p.name for p in catalog.packages)
    assert {c.get("purl") for c in libraries} == {p.purl for p in catalog.packages}
    (operating_system,) = [c for c in bom["components"] if c["type"] == "operating-system"]
    assert catalog.distro is not None
    assert operating_system["name"] == catalog.distro.id
    (root_deps,) = [d for d in bom["dependencies"] if d["ref"] == root["bom-ref"]]
    assert len(root_deps["dependsOn"]) == len(bom["components"])


@pytest.mark.parametrize("engine", CATALOGS)
def test_cyclonedx_is_what_the_library_s_json_writer_writes(engine: str) -> None:
    """Rendered without the library's deprecated data-model check (``Bom.validate``),
    byte for byte what its writer gives: packages of every type, duplicate keys,
    compound and unknown licenses, packages without a purl, the operating system."""
    catalog = _with_many_packages(_with_odd_licenses(CATALOGS[engine]()))
    library = JsonV1Dot6(bom_of(catalog, CREATED)).output_as_string(indent=2)
    assert render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED) == library


def test_cyclonedx_carries_source_package_and_tools() -> None:
    catalog = syft_catalog()
    bom = json.loads(render(catalog, SbomFormat.CYCLONEDX_JSON))
    by_ref = {c["bom-ref"]: c for c in bom["components"]}
    for package in catalog.packages:
        properties = {(p["name"], p["value"]) for p in by_ref[package.key].get("properties", [])}
        if package.source_name:
            assert ("tollgate:source-name", package.source_name) in properties
            assert ("tollgate:source-version", package.source_version) in properties
    tools = {t["name"]: t["version"] for t in bom["metadata"]["tools"]["components"]}
    assert tools["syft"] == catalog.engine_version


@pytest.mark.parametrize("engine", CATALOGS)
def test_spdx_parses_back_and_validates(engine: str, tmp_path: Path) -> None:
    catalog = _with_odd_licenses(CATALOGS[engine]())
    path = tmp_path / "sbom.spdx.json"
    path.write_text(render(catalog, SbomFormat.SPDX_JSON, created=CREATED))
    document = parse_file(str(path))
    assert validate_full_spdx_document(document) == []
    describes = [r for r in document.relationships if r.relationship_type.name == "DESCRIBES"]
    assert [r.related_spdx_element_id for r in describes] == ["SPDXRef-Image"]
    contained = {
        r.related_spdx_element_id
        for r in document.relationships
        if r.relationship_type.name == "CONTAINS"
    }
    assert len(contained) == len(catalog.packages) + 1  # and the operating system
    image = next(p for p in document.packages if p.spdx_id == "SPDXRef-Image")
    assert image.version == catalog.image.digest
    assert document.creation_info.created == CREATED.replace(tzinfo=None)


def test_spdx_keeps_unknown_licenses_as_license_refs(tmp_path: Path) -> None:
    catalog = _with_odd_licenses(syft_catalog())
    path = tmp_path / "sbom.spdx.json"
    path.write_text(render(catalog, SbomFormat.SPDX_JSON))
    document = parse_file(str(path))
    extracted = {info.extracted_text for info in document.extracted_licensing_info}
    assert {"GPL-3+ with Bison exception", "Custom: see LICENSE", "MIT/X11"} <= extracted
    odd = next(p for p in document.packages if p.name == "odd")
    assert "(MIT OR Apache-2.0)" in str(odd.license_declared)
    with_source = [p for p in document.packages if p.source_info]
    assert len(with_source) == sum(1 for p in catalog.packages if p.source_name)


def test_cyclonedx_uses_one_expression_when_a_license_is_compound() -> None:
    catalog = _with_odd_licenses(syft_catalog())
    document = render(catalog, SbomFormat.CYCLONEDX_JSON)
    odd = next(c for c in json.loads(document)["components"] if c["name"] == "odd")
    (expression,) = odd["licenses"]
    assert "(MIT OR Apache-2.0)" in expression["expression"]
    assert "LicenseRef-" in expression["expression"]


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_renders_are_byte_identical(fmt: SbomFormat) -> None:
    first = render(syft_catalog(), fmt, created=CREATED)
    assert render(syft_catalog(), fmt, created=CREATED) == first
    # a different catalog of the same image gets a different document id
    assert render(trivy_catalog(), fmt, created=CREATED) != first


@pytest.mark.parametrize("catalog", [syft_catalog, trivy_catalog], ids=["syft", "trivy"])
def test_a_document_re_subjected_is_the_document_rendered_for_that_image(
    catalog: Callable[[], Catalog],
) -> None:
    """An image that adds only application code to its base has the base's packages: the
    base's document made the new image's is byte for byte what rendering it gives."""
    base = catalog()
    app = base.model_copy(
        update={
            "image": base.image.model_copy(
                update={"reference": "127.0.0.1:5000/app:2", "digest": "sha256:" + "e" * 64}
            )
        }
    )
    template = render(base, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    later = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
    expected = render(app, SbomFormat.CYCLONEDX_JSON, created=later)
    assert resubjected(template, app, SbomFormat.CYCLONEDX_JSON, created=later) == expected
    assert expected != template
    assert resubjected(template, app, SbomFormat.SPDX_JSON, created=later) is None


def _with_many_packages(catalog: Catalog) -> Catalog:
    """``catalog`` and packages of every type, names that sort around the image's bom-ref,
    one name at several versions, packages without a purl."""
    more = [
        Package(
            name=name,
            version=version,
            type=kind,
            purl=None if number % 5 == 0 else f"pkg:{kind}/{name}@{version}",
            licenses=("MIT",) if number % 2 else ("Apache-2.0 OR MIT",),
            cpes=(f"cpe:2.3:a:{name}:{name}:{version}:*:*:*:*:*:*:*",) if number % 3 else (),
        )
        for number, (name, version, kind) in enumerate(
            (name, version, kind)
            for name in ("a", "Zed", "image", "imagemagick", "libc6", "left-pad", "0ad")
            for version in ("1.0", "1.0.1", "10")
            for kind in (PackageType.DEB, PackageType.NPM, PackageType.GEM)
        )
    ]
    return catalog.model_copy(update={"packages": (*catalog.packages, *more)})


def _on_another_image(catalog: Catalog, packages: tuple[Package, ...]) -> Catalog:
    image = catalog.image.model_copy(
        update={"reference": "127.0.0.1:5000/app:2", "digest": "sha256:" + "e" * 64}
    )
    return catalog.model_copy(update={"image": image, "packages": packages})


@pytest.mark.parametrize("fmt", list(SbomFormat))
@pytest.mark.parametrize("catalog", [syft_catalog, trivy_catalog], ids=["syft", "trivy"])
@pytest.mark.parametrize("seed", range(6))
def test_a_document_extended_by_added_packages_is_the_document_rendered_for_them(
    catalog: Callable[[], Catalog], seed: int, fmt: SbomFormat
) -> None:
    """An image that adds a layer of packages to its base: the base's document with the
    new packages put in place is byte for byte what rendering the image gives."""
    full = _with_many_packages(_with_odd_licenses(catalog()))
    chosen = random.Random(seed).sample(range(len(full.packages)), k=1 + seed * 7)
    added = tuple(p for number, p in enumerate(full.packages) if number in chosen)
    base = full.model_copy(update={"packages": tuple(p for p in full.packages if p not in added)})
    template = render(base, fmt, created=CREATED)
    app = _on_another_image(full, full.packages)
    later = datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
    expected = render(app, fmt, created=later)
    assert extended(template, app, added, fmt, created=later) == expected


@pytest.mark.parametrize("fmt", list(SbomFormat))
def test_packages_are_added_to_a_document_with_numbered_bom_refs(fmt: SbomFormat) -> None:
    """Two packages of one key in the base (numbered bom-refs and SPDX ids), new ones of
    other keys."""
    full = _with_many_packages(syft_catalog())
    twin = full.packages[0].model_copy(update={"licenses": ("MIT",)})
    base = full.model_copy(update={"packages": (full.packages[0], twin, *full.packages[1:9])})
    added = full.packages[9:]
    app = _on_another_image(full, (*base.packages, *added))
    template = render(base, fmt, created=CREATED)
    expected = render(app, fmt, created=CREATED)
    assert extended(template, app, added, fmt, created=CREATED) == expected


def test_a_package_sharing_its_key_with_another_is_not_added_to_a_document() -> None:
    base = syft_catalog()
    twin = base.packages[0].model_copy(update={"licenses": ("MIT",)})
    app = _on_another_image(base, (*base.packages, twin))
    template = render(base, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    assert extended(template, app, (twin,), SbomFormat.CYCLONEDX_JSON) is None


def test_a_package_is_added_to_an_spdx_document_unless_it_renumbers_another() -> None:
    """SPDX ids count the packages of one key in the catalog's order: a new package after
    its base twin takes the next number (the document is extended), one before it would
    renumber it (rendered whole). A template of other packages is not extended."""
    base = syft_catalog()
    twin = base.packages[0].model_copy(update={"licenses": ("MIT",)})
    template = render(base, SbomFormat.SPDX_JSON, created=CREATED)
    after = _on_another_image(base, (*base.packages, twin))
    expected = render(after, SbomFormat.SPDX_JSON, created=CREATED)
    assert extended(template, after, (twin,), SbomFormat.SPDX_JSON, created=CREATED) == expected
    before = _on_another_image(base, (twin, *base.packages))
    assert extended(template, before, (twin,), SbomFormat.SPDX_JSON, created=CREATED) is None
    other = render(trivy_catalog(), SbomFormat.SPDX_JSON, created=CREATED)
    assert extended(other, after, (twin,), SbomFormat.SPDX_JSON, created=CREATED) is None


def _licensed(name: str, licenses: tuple[str, ...]) -> Package:
    purl = f"pkg:npm/{name}@1.0"
    return Package(name=name, version="1.0", type=PackageType.NPM, purl=purl, licenses=licenses)


@pytest.mark.parametrize("added_first", [True, False], ids=["added-first", "added-last"])
@pytest.mark.parametrize(
    ("one", "other"),
    [
        ((), ("MIT-like",)),
        (("MIT like",), ("MIT-like", "GPL-2.0")),
        (("Custom: see LICENSE", "MIT/X11"), ("Custom see LICENSE", "MIT OR Apache-2.0")),
    ],
    ids=["one-ref", "one-ref-two-texts", "several"],
)
def test_an_extended_spdx_document_declares_the_license_refs_a_render_declares(
    one: tuple[str, ...], other: tuple[str, ...], added_first: bool
) -> None:
    """LicenseRefs the base's document has none of, or that a base package and a new one
    give under two texts (a render keeps the later package's), before or after it."""
    engine = syft_catalog()
    mit = tuple(p.model_copy(update={"licenses": ("MIT",)}) for p in engine.packages)
    plain = engine.model_copy(update={"packages": mit})
    first, second = _licensed("first", one), _licensed("second", other)
    full = _on_another_image(plain, (*plain.packages[:2], first, *plain.packages[2:], second))
    added = (first,) if added_first else (second,)
    base = full.model_copy(update={"packages": tuple(p for p in full.packages if p not in added)})
    template = render(base, SbomFormat.SPDX_JSON, created=CREATED)
    expected = render(full, SbomFormat.SPDX_JSON, created=CREATED)
    assert extended(template, full, added, SbomFormat.SPDX_JSON, created=CREATED) == expected


def test_without_creation_time_the_timestamp_is_fixed() -> None:
    bom = json.loads(render(syft_catalog(), SbomFormat.CYCLONEDX_JSON))
    assert bom["metadata"]["timestamp"].startswith("1970-01-01T00:00:00")


def _cyclonedx_with(changes: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """A rendered CycloneDX document, parsed and then changed."""
    bom: dict[str, Any] = json.loads(
        render(syft_catalog(), SbomFormat.CYCLONEDX_JSON, created=CREATED)
    )
    changes(bom)
    return bom


def test_the_compiled_validator_finds_duplicates_as_the_library_does() -> None:
    """The validator Tollgate checks its CycloneDX with (jsonschema-rs) finds what
    cyclonedx-python-lib's strict validator finds: duplicate components (keys in another
    order, 1 and 1.0 alike; true is not 1)."""
    from service.sbom.cyclonedx import schema_validator

    bom = _cyclonedx_with(lambda bom: None)
    first = bom["components"][0]
    library = JsonStrictValidator(SchemaVersion.V1_6)
    for components, unique in (
        ([*bom["components"], dict(reversed(first.items()))], False),
        ([{**first, "x": [1, True]}, {**first, "x": [1.0, True]}], False),
        ([{**first, "x": [1, True]}, {**first, "x": [True, 1]}], True),
    ):
        document = {**bom, "components": components}
        ours = [e for e in schema_validator().iter_errors(document) if e.kind.name == "uniqueItems"]
        theirs = library.validate_str(json.dumps(document), all_errors=True) or []
        assert bool(ours) == (not unique)
        assert any("non-unique" in str(e) for e in theirs) == (not unique)


def _malformed_timestamp(bom: dict[str, Any]) -> None:
    bom["metadata"]["timestamp"] = "2024-13-02T03:04:05Z"


def _empty_bom_ref(bom: dict[str, Any]) -> None:
    bom["components"][0]["bom-ref"] = ""


def _email_without_at(bom: dict[str, Any]) -> None:
    bom["metadata"]["authors"] = [{"name": "someone", "email": "someone.example.com"}]


def _license_and_expression(bom: dict[str, Any]) -> None:
    bom["components"][0]["licenses"] = [{"license": {"id": "MIT"}}, {"expression": "MIT"}]


def _unknown_license_id(bom: dict[str, Any]) -> None:
    bom["components"][0]["licenses"] = [{"license": {"id": "Not-A-License"}}]


@pytest.mark.parametrize(
    "change",
    [
        _malformed_timestamp,
        _empty_bom_ref,
        _email_without_at,
        _license_and_expression,
        _unknown_license_id,
    ],
)
def test_the_compiled_validator_refuses_what_the_library_refuses(
    change: Callable[[dict[str, Any]], None],
) -> None:
    """A malformed timestamp or e-mail address, an empty bom-ref, a license list mixed
    with an expression, a license id not on the SPDX list (a schema of its own)."""
    from service.sbom.cyclonedx import schema_validator

    document = _cyclonedx_with(change)
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(json.dumps(document))
    assert list(schema_validator().iter_errors(document))


def test_the_compiled_validator_checks_iri_references() -> None:
    """The library's validator skips ``iri-reference`` without rfc3987 installed (it is
    not): the compiled one checks it too, so an external reference must be one."""

    def with_reference(url: str) -> dict[str, Any]:
        return _cyclonedx_with(
            lambda bom: bom["components"][0].update(
                externalReferences=[{"type": "website", "url": url}]
            )
        )

    assert cyclonedx.schema_validator().is_valid(with_reference("https://example.org/a%20b"))
    assert not cyclonedx.schema_validator().is_valid(with_reference("https://example.org/a b"))


def test_the_validator_reads_only_the_schemas_the_library_ships(tmp_path: Path) -> None:
    from service.sbom.cyclonedx import _shipped_schema

    (tmp_path / "spdx.SNAPSHOT.schema.json").write_text('{"enum": ["MIT"]}')
    assert _shipped_schema(tmp_path, "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json") == {
        "enum": ["MIT"]
    }
    for uri in (
        "http://cyclonedx.org/schema/missing.schema.json",
        "https://example.org/spdx.SNAPSHOT.schema.json",
        "http://cyclonedx.org/schema/../spdx.SNAPSHOT.schema.json",
    ):
        with pytest.raises(LookupError):
            _shipped_schema(tmp_path, uri)


def _spdx_document(tmp_path: Path) -> Document:
    path = tmp_path / "sbom.spdx.json"
    path.write_text(render(_with_odd_licenses(syft_catalog()), SbomFormat.SPDX_JSON))
    return parse_file(str(path))


def _dangling_relationship(document: Document) -> None:
    document.relationships.append(
        Relationship("SPDXRef-Image", RelationshipType.CONTAINS, "SPDXRef-Missing")
    )


def _malformed_relationship_end(document: Document) -> None:
    document.relationships.append(
        Relationship("SPDXRef_Image", RelationshipType.DEPENDS_ON, SpdxNoAssertion())
    )


def _undeclared_external_document(document: Document) -> None:
    document.relationships.append(
        Relationship("SPDXRef-Image", RelationshipType.CONTAINS, "DocumentRef-other:SPDXRef-X")
    )


def _described_by_instead(document: Document) -> None:
    document.relationships = [
        Relationship(r.related_spdx_element_id, RelationshipType.DESCRIBED_BY, r.spdx_element_id)
        if r.relationship_type == RelationshipType.DESCRIBES
        else r
        for r in document.relationships
    ]


def _nothing_described(document: Document) -> None:
    document.relationships = [
        r for r in document.relationships if r.relationship_type != RelationshipType.DESCRIBES
    ]


def _duplicate_package_id(document: Document) -> None:
    document.packages[2].spdx_id = document.packages[1].spdx_id


def _unknown_license_ref(document: Document) -> None:
    document.extracted_licensing_info = document.extracted_licensing_info[1:]


def _as_spdx_2_2(document: Document) -> None:
    """Validated the slow way: 2.2 has checks of its own (no package purpose, …)."""
    document.creation_info.spdx_version = "SPDX-2.2"


def _malformed_purl(document: Document) -> None:
    package = next(p for p in document.packages if p.external_references)
    package.external_references[0].locator = "pkg:/no type"


@pytest.mark.parametrize(
    "change",
    [
        lambda document: None,
        _dangling_relationship,
        _malformed_relationship_end,
        _undeclared_external_document,
        _described_by_instead,
        _nothing_described,
        _duplicate_package_id,
        _unknown_license_ref,
        _malformed_purl,
        _as_spdx_2_2,
    ],
)
def test_spdx_validation_finds_what_spdx_tools_finds(
    change: Callable[[Document], None], tmp_path: Path
) -> None:
    """Tollgate's linear-time SPDX validation says what spdx-tools' full validation says."""
    document = _spdx_document(tmp_path)
    change(document)
    ours = sorted(m.validation_message for m in validation_messages(document))
    assert ours == sorted(m.validation_message for m in validate_full_spdx_document(document))


LICENSE_LIST_LOADED = """
import sys
from tests.unit.catalog.fixtures import syft_catalog
from service.sbom import SbomFormat, render
catalog = syft_catalog()
unlicensed = catalog.model_copy(
    update={"packages": tuple(p.model_copy(update={"licenses": ()}) for p in catalog.packages)}
)
render(unlicensed, SbomFormat.CYCLONEDX_JSON)
print("spdx_tools.common.spdx_licensing" in sys.modules)
render(catalog, SbomFormat.CYCLONEDX_JSON)
print("spdx_tools.common.spdx_licensing" in sys.modules)
"""


def test_the_spdx_license_list_is_built_for_the_first_license_to_normalise() -> None:
    """A CycloneDX document whose packages declare no license (a push that adds only
    application code keeps its base's) does not build spdx-tools' license list."""
    result = subprocess.run(
        [sys.executable, "-c", LICENSE_LIST_LOADED], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("catalog", [syft_catalog, trivy_catalog], ids=["syft", "trivy"])
def test_a_document_rendered_in_two_processes_is_the_document_rendered_in_one(
    catalog: Callable[[], Catalog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the packages rendered by a forked child, put together with the other half:
    byte for byte the document rendered here alone (numbered bom-refs included)."""
    full = _with_many_packages(_with_odd_licenses(catalog()))
    twin = full.packages[3].model_copy(update={"licenses": ("MIT",)})
    full = full.model_copy(update={"packages": (*full.packages, twin)})
    monkeypatch.setattr(forked, "may_fork", lambda: False)
    alone = render(full, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    monkeypatch.setattr(forked, "may_fork", lambda: True)  # though another test left a thread
    monkeypatch.setattr(forked, "MIN_FORKED", 1)
    started = []
    monkeypatch.setattr(forked, "started", _recorded(forked.started, started))
    assert render(full, SbomFormat.CYCLONEDX_JSON, created=CREATED) == alone
    assert started  # the render did fork


def _recorded(
    start: Callable[[Callable[[], bytes]], Callable[[], bytes | None]], calls: list[int]
) -> Callable[[Callable[[], bytes]], Callable[[], bytes | None]]:
    def recording(work: Callable[[], bytes]) -> Callable[[], bytes | None]:
        calls.append(1)
        return start(work)

    return recording


def test_a_forked_part_that_fails_is_rendered_here(monkeypatch: pytest.MonkeyPatch) -> None:
    full = _with_many_packages(syft_catalog())
    expected = render(full, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    monkeypatch.setattr(forked, "may_fork", lambda: True)
    monkeypatch.setattr(forked, "MIN_FORKED", 1)
    monkeypatch.setattr(forked, "started", lambda work: lambda: None)  # the child failed
    assert render(full, SbomFormat.CYCLONEDX_JSON, created=CREATED) == expected


def test_a_forked_child_answers_or_fails_and_no_process_with_threads_forks() -> None:
    assert forked.started(lambda: b"rendered")() == b"rendered"
    assert forked.started(lambda: str(1 / 0).encode())() is None
    stop = threading.Event()
    beside = threading.Thread(target=stop.wait)
    beside.start()
    try:
        assert not forked.may_fork()
    finally:
        stop.set()
        beside.join()


def test_a_component_invalid_against_the_schema_is_refused_however_rendered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rendered whole, in two processes or added to a base's document: a component the
    schema refuses is an SBOMError naming where it is, never a document."""
    full = _with_many_packages(syft_catalog())
    base = full.model_copy(update={"packages": full.packages[:-3]})
    template = render(base, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    written = cyclonedx._generated

    def corrupted(bom: Any) -> dict[str, Any]:
        document = written(bom)
        for component in document.get("components", []):
            component["type"] = "not-a-type"
        return document

    monkeypatch.setattr(cyclonedx, "_generated", corrupted)
    invalid = r"is invalid at /components/0/type"
    with pytest.raises(SBOMError, match=invalid):
        extended(template, full, full.packages[-3:], SbomFormat.CYCLONEDX_JSON)
    with pytest.raises(SBOMError, match=invalid):
        render(full, SbomFormat.CYCLONEDX_JSON)
    monkeypatch.setattr(forked, "may_fork", lambda: True)
    monkeypatch.setattr(forked, "MIN_FORKED", 1)
    with pytest.raises(SBOMError, match=invalid):
        render(full, SbomFormat.CYCLONEDX_JSON)
