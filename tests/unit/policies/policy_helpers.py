"""Helpers for policy tests: subjects, one-policy bundles, npm packages and catalogs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from policies.model import Bundle, Policy, ScanState
from policies.subject import EvaluationInput
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.image.model import ImageConfig
from service.signing.model import SignatureStatus

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32


def npm_package(name: str, version: str, licenses: tuple[str, ...] = ()) -> Package:
    return Package(
        name=name,
        version=version,
        type=PackageType.NPM,
        purl=f"pkg:npm/{name}@{version}",
        licenses=licenses,
    )


def npm_catalog(packages: Iterable[Package]) -> Catalog:
    return Catalog(
        image=ImageSubject(
            reference="127.0.0.1:5000/shop/web:1.0", digest=DIGEST, platform="linux/amd64"
        ),
        packages=tuple(sorted(packages, key=lambda p: p.key)),
        engine="test",
        engine_version="0",
    )


def subject(**overrides: Any) -> EvaluationInput:
    fields: dict[str, Any] = {
        "reference": "127.0.0.1:5000/shop/web:1.0",
        "registry": "127.0.0.1:5000",
        "repository": "shop/web",
        "tag": "1.0",
        "digest": DIGEST,
        "scan": ScanState.SCANNED,
        "signatures": SignatureStatus(),
    }
    fields.update(overrides)
    return EvaluationInput(**fields)


def bundle_of(*rules: Mapping[str, Any], allowlist: Iterable[Mapping[str, Any]] = ()) -> Bundle:
    return Bundle.model_validate(
        {
            "name": "test",
            "default": "p",
            "policies": [{"name": "p", "rules": list(rules), "allowlist": list(allowlist)}],
        }
    )


def policy_of(*rules: Mapping[str, Any], allowlist: Iterable[Mapping[str, Any]] = ()) -> Policy:
    return bundle_of(*rules, allowlist=allowlist).policies[0]


ConfigBuilder = Callable[..., ImageConfig]
