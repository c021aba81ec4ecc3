"""Real inputs for policy tests: npm findings matched from the shared OSV records, and
image configs parsed from OCI config blobs written by tests.support.oci."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from service.catalog.model import Catalog
from service.image.manifest import parse_image_config
from service.image.model import ImageConfig
from service.vulndb.cve import CveFacts
from service.vulndb.feeds.osv import parse_osv
from service.vulndb.matcher import match
from service.vulndb.model import Finding, PackageKey
from service.vulndb.records import Advisory
from tests.support.oci import File, ImageSpec, read_blob_json, write_image
from tests.support.shared import VULNDATA
from tests.unit.policies.policy_helpers import ConfigBuilder, npm_catalog, npm_package

OSV_NPM = VULNDATA / "osv" / "npm"


class MemoryAdvisories:
    """An in-memory AdvisoryIndex (the matcher's own interface)."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        self._by_key: dict[PackageKey, list[Advisory]] = {}
        for advisory in advisories:
            self._by_key.setdefault((advisory.ecosystem, advisory.package), []).append(advisory)

    def revision(self) -> int:
        return 0

    def advisories(self, keys: Iterable[PackageKey]) -> Mapping[PackageKey, tuple[Advisory, ...]]:
        return {key: tuple(self._by_key[key]) for key in keys if key in self._by_key}

    def cve_facts(self, ids: Iterable[str]) -> Mapping[str, CveFacts]:
        return {}


# Old enough to be inside the ranges of every advisory in the shared npm records.
VULNERABLE_NPM = {
    "lodash": "4.17.4",
    "minimist": "1.2.0",
    "qs": "6.5.2",
    "express": "4.17.0",
    "body-parser": "1.19.0",
    "send": "0.17.0",
    "path-to-regexp": "0.1.7",
    "cookie": "0.4.0",
    "serve-static": "1.14.0",
}


@pytest.fixture(scope="session")
def npm_scan() -> tuple[Catalog, tuple[Finding, ...]]:
    """A catalog of old npm packages and the findings the real matcher gives it."""
    records = [parse_osv(json.loads(p.read_text())) for p in sorted(OSV_NPM.glob("*.json"))]
    index = MemoryAdvisories(a for record in records for a in record.advisories)
    catalog = npm_catalog(npm_package(name, version) for name, version in VULNERABLE_NPM.items())
    findings = tuple(match(catalog, index))
    assert findings, "the shared OSV records should match these versions"
    return catalog, findings


@pytest.fixture
def build_config(tmp_path: Path) -> ConfigBuilder:
    """Write a real OCI image with ``ImageSpec(**fields)`` and parse its config blob back."""
    counter = iter(range(1_000))

    def build(**fields: Any) -> ImageConfig:
        layout = tmp_path / f"layout-{next(counter)}"
        spec = ImageSpec(layers=[{"etc/os-release": File(b"ID=test\n")}], **fields)
        image = write_image(layout, spec, tag="1")
        blob = read_blob_json(layout, image.config_digest)
        config, _ = parse_image_config(json.dumps(blob).encode())
        return config

    return build
