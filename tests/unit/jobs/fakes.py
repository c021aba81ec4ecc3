"""Fakes of Tollgate's own interfaces (image source, cataloger, dispatcher) for unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from policies.loader import parse_bundle
from service.catalog.cache import CatalogCache
from service.catalog.interface import Cataloger, LayerArrivals
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.errors import TollgateError
from service.image.download import LayerDownload, Pinning
from service.image.model import ImageConfig, ImageReference, PinnedImage, Platform
from service.image.reference import format_reference
from service.registry.pull_auth import PullAuthorization
from service.scanning import Orchestrator, Progress
from service.store.catalogs import CatalogStore
from service.store.policies import PolicyStore
from service.vulndb.ecosystems import matchable
from service.vulndb.model import Finding, PackageRef, Severity

# package name -> (vulnerability id, severity, fixed version or None)
ADVISORIES: dict[str, list[tuple[str, Severity, str | None]]] = {
    "openssl": [
        ("CVE-2024-0001", Severity.CRITICAL, "3.0.9"),
        ("CVE-2024-0002", Severity.HIGH, None),
    ],
    "zlib": [("CVE-2024-0003", Severity.MEDIUM, "1.3")],
    "bash": [("CVE-2024-0004", Severity.LOW, None)],
}


def digest_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


@dataclass
class FakeSource:
    """Resolves any registry reference; ``failures`` makes a reference fail first."""

    layout: Path
    failures: dict[str, list[TollgateError]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    pull_auth: list[PullAuthorization | None] = field(default_factory=list)  # per orchestrator
    # layers still arriving once the image is pinned, each stored by ``fetch_layer``
    arriving: tuple[str, ...] = ()
    fetch_layer: Callable[[str], None] = lambda digest: None

    @contextmanager
    def pinning(
        self,
        ref: ImageReference,
        platform: Platform | None = None,
        progress: Progress | None = None,
        *,
        in_place: bool = False,
    ) -> Iterator[Pinning]:
        layers = LayerDownload(self.arriving, self.fetch_layer)
        try:
            yield Pinning(self.fetch(ref, platform), layers)
        finally:
            layers.abandon()

    def fetch(self, ref: ImageReference, platform: Platform | None = None) -> PinnedImage:
        name = format_reference(ref)
        self.fetched.append(name)
        pending = self.failures.get(ref.repository or "", [])
        if pending:
            raise pending.pop(0)
        digest = ref.digest or digest_of(name)
        return PinnedImage(
            reference=ref,
            display_name=name,
            digest=digest,
            platform=platform or Platform(os="linux", architecture="amd64"),
            media_type="application/vnd.oci.image.manifest.v1+json",
            layout=self.layout,
            config_digest=digest_of("config" + digest),
            layers=(),
            size=1,
            config=ImageConfig(),
        )


class FakeCataloger(Cataloger):
    """Packages named by the repository's last path component, split on '-'."""

    name = "fake"

    def _binary(self) -> str:
        return "/bin/true"

    def _read_version(self) -> str:
        return "1.0"

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        repo = (image.reference.repository or "").rsplit("/", 1)[-1]
        packages = tuple(
            Package(name=n, version="1.0", type=PackageType.DEB, purl=f"pkg:deb/debian/{n}@1.0")
            for n in sorted(repo.split("-"))
        )
        return Catalog(
            image=ImageSubject.of(image),
            packages=packages,
            engine=self.name,
            engine_version=self.version(),
        )


def fake_match(catalog: Catalog) -> list[Finding]:
    return [
        Finding(
            id=vuln_id,
            severity=severity,
            package=PackageRef(name=p.name, version=p.version, type=p.type.value, purl=p.purl),
            fixed_versions=(fixed,) if fixed else (),
            fix_available=fixed is not None,
            source="fake",
        )
        for p in catalog.packages
        for vuln_id, severity, fixed in ADVISORIES.get(p.name, [])
    ]


@dataclass
class RecordingDispatcher:
    dispatched: list[tuple[str, str]] = field(default_factory=list)
    redecisions: list[str] = field(default_factory=list)
    up: bool = True

    def dispatch(
        self, scan_id: str, queue: str, pull_auth: PullAuthorization | None = None
    ) -> None:
        self.dispatched.append((scan_id, queue))

    def redecide(self, trigger: str) -> None:
        self.redecisions.append(trigger)

    def reachable(self) -> bool:
        return self.up


@dataclass
class CatalogSink:
    """Stores like the wiring's sink: catalogs, and findings at database revision 0."""

    catalogs: CatalogStore

    def save(self, catalog: Catalog) -> None:
        self.catalogs.save(catalog, matchable(catalog))

    def record(self, digest: str, findings: list[Finding]) -> None:
        self.catalogs.record_findings({digest: findings}, 0)


def orchestrator_factory(source: FakeSource, cache_dir: Path, catalogs: CatalogStore):
    cataloger = FakeCataloger()

    @contextmanager
    def factory(pull_auth: PullAuthorization | None = None) -> Iterator[Orchestrator]:
        source.pull_auth.append(pull_auth)
        yield Orchestrator(
            source=source,
            catalogers={"fake": cataloger, "syft": cataloger},
            default_engine="fake",
            cache=CatalogCache(cache_dir),
            matcher=fake_match,
            sink=CatalogSink(catalogs),
        )

    return factory


# Blocks critical findings, warns on high ones; images in apps/openssl only get warnings.
TIERED_BUNDLE = """
name: default
default: strict
policies:
  - name: strict
    rules:
      - {id: scanned, type: scan_status, action: block}
      - {id: critical, type: severity_gate, action: block, severity: critical}
      - {id: high, type: severity_gate, action: warn, severity: high}
  - name: lenient
    rules:
      - {id: critical, type: severity_gate, action: warn, severity: critical}
mappings:
  - {repository: apps/openssl, policy: lenient}
"""


def apply_tiered_bundle(engine: Engine) -> None:
    bundle = parse_bundle(TIERED_BUNDLE, source="tests")
    PolicyStore(engine).apply(bundle, author="tests", now=datetime.now(UTC))
