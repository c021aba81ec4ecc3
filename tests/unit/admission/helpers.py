"""Stored scans, a policy bundle and fakes of admission's own interfaces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from policies.loader import parse_bundle
from service.admission.stored import StoredVerdicts
from service.admission.verdict_cache import VerdictCache
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.errors import ManifestUnknownError, RegistryUnavailableError
from service.gate import PolicyGate
from service.image.model import ImageReference
from service.image.reference import format_reference
from service.store.catalogs import CatalogStore
from service.store.policies import PolicyStore
from service.vulndb.ecosystems import matchable
from service.vulndb.model import Finding, PackageRef, Severity
from tests.unit.jobs.conftest import stored_evaluation

BUNDLE = """
name: admission
default: gate
policies:
  - name: gate
    rules:
      - id: scanned
        type: scan_status
        action: block
      - id: no-critical
        type: severity_gate
        action: block
        severity: critical
      - id: high
        type: severity_gate
        action: warn
        severity: high
"""


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def apply_bundle(engine: Engine, text: str = BUNDLE) -> None:
    PolicyStore(engine).apply(
        parse_bundle(text, source="test"), author="test", now=datetime.now(UTC)
    )


def store_scan(engine: Engine, reference: str, digest: str, severities: list[Severity]) -> None:
    """A stored catalog with one package per finding, and those findings."""
    packages = tuple(
        Package(
            name=f"pkg{i}", version="1.0", type=PackageType.DEB, purl=f"pkg:deb/debian/pkg{i}@1.0"
        )
        for i in range(len(severities))
    )
    catalogs = CatalogStore(engine)
    catalog = Catalog(
        image=ImageSubject(reference=reference, digest=digest, platform="linux/amd64"),
        packages=packages,
        engine="syft",
        engine_version="1.18.1",
    )
    catalogs.save(catalog, matchable(catalog))
    findings = [
        Finding(
            id=f"CVE-2024-{1000 + i}",
            severity=severity,
            package=PackageRef(name=p.name, version=p.version, type=p.type.value, purl=p.purl),
            fixed_versions=("1.1",),
            fix_available=True,
            source="test",
        )
        for i, (p, severity) in enumerate(zip(packages, severities, strict=True))
    ]
    catalogs.record_findings({digest: findings}, 1)


def verdicts(engine: Engine, bundle: str = "admission") -> StoredVerdicts:
    return StoredVerdicts(
        PolicyGate(PolicyStore(engine)),
        PolicyStore(engine),
        stored_evaluation(engine, bundle),
        bundle=bundle,
        cache=VerdictCache(bundle, refresh=0),
    )


@dataclass
class FakeResolver:
    """Tags -> digests from a dict; ``down`` makes every registry call fail."""

    tags: dict[str, str] = field(default_factory=dict)
    indexes: dict[str, str] = field(default_factory=dict)  # index digest -> platform digest
    down: bool = False
    calls: int = 0

    def digest(self, ref: ImageReference) -> str:
        if ref.digest is not None:
            return ref.digest
        self.calls += 1
        if self.down:
            raise RegistryUnavailableError(
                f"registry {ref.registry} unavailable", hint="retry later"
            )
        name = format_reference(ref)
        if name not in self.tags:
            raise ManifestUnknownError(f"{name} does not exist in its registry")
        return self.tags[name]

    def platform_digest(self, ref: ImageReference, digest: str) -> str:
        if self.down:
            raise RegistryUnavailableError(f"registry {ref.registry} unavailable")
        return self.indexes.get(digest, digest)

    def cached_digest(self, ref: ImageReference) -> str | None:
        return ref.digest  # tags always go to the (fake) registry

    def cached_platform_digest(self, digest: str) -> str | None:
        return self.indexes.get(digest)


@dataclass
class FakeScans:
    """Scan requests; ``on_finish`` stores the scan result when the scan is polled."""

    finishes: bool = True
    requested: list[str] = field(default_factory=list)
    on_finish: object = None

    def request(self, ref: ImageReference, digest: str) -> str:
        self.requested.append(digest)
        return f"scan-{len(self.requested)}"

    def finished(self, scan_id: str) -> bool:
        if self.finishes and callable(self.on_finish):
            self.on_finish()
        return self.finishes
