"""Real engine reports committed under tests/fixtures (see the READMEs there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.catalog.model import Catalog, ImageSubject
from service.catalog.syft_report import SyftDocument, catalog_from_syft
from service.catalog.trivy_report import TrivyReport, catalog_from_trivy

FIXTURES = Path(__file__).parents[2] / "fixtures"
SYFT_REPORT = FIXTURES / "syft" / "debian-python.syft.json"
TRIVY_REPORT = FIXTURES / "trivy" / "debian-python.trivy.json"
TRIVY_GOLDEN = FIXTURES / "trivy" / "npm.json.golden"


def load(path: Path) -> Any:
    return json.loads(path.read_text())


def subject_of_syft_report(raw: dict[str, Any]) -> ImageSubject:
    return ImageSubject(
        reference="127.0.0.1:5000/tollgate/engines-test:1.0",
        digest=raw["source"]["metadata"]["manifestDigest"],
        platform="linux/amd64",
    )


def syft_catalog() -> Catalog:
    raw = load(SYFT_REPORT)
    return catalog_from_syft(
        SyftDocument.model_validate(raw),
        subject_of_syft_report(raw),
        engine_version=raw["descriptor"]["version"],
    )


def trivy_catalog() -> Catalog:
    return catalog_from_trivy(
        TrivyReport.model_validate(load(TRIVY_REPORT)),
        subject_of_syft_report(load(SYFT_REPORT)),
        engine_version="dev",
    )
