"""Helpers for tests on the real advisory data in ../shared/vulndata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from service.catalog.model import Catalog, Distro, ImageSubject, Package, PackageType

VULNDATA = Path(__file__).resolve().parents[4] / "shared" / "vulndata"
if not VULNDATA.exists():
    VULNDATA = Path("/work/shared/vulndata")


def osv_records(folder: str) -> Iterator[dict[str, Any]]:
    for path in sorted((VULNDATA / "osv" / folder).glob("*.json")):
        yield json.loads(path.read_text())


def make_catalog(
    packages: list[Package], distro: Distro | None = None, digest: str = "sha256:" + "0" * 64
) -> Catalog:
    return Catalog(
        image=ImageSubject(reference="example.test/app:1", digest=digest, platform="linux/amd64"),
        distro=distro,
        packages=tuple(sorted(packages, key=lambda p: p.key)),
        engine="test",
        engine_version="0",
    )


def pkg(name: str, version: str, type_: PackageType, **extra: Any) -> Package:
    return Package(name=name, version=version, type=type_, **extra)
