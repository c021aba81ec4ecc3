"""Composition root: the one place that builds Tollgate's collaborators from settings.

The CLI, the embedded service and Celery workers all get their orchestrator
here, so they share one code path. Database modules load only for the full
pipeline, so ``tollgate sbom`` never pays for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from service.catalog.cache import CatalogCache
from service.catalog.interface import Cataloger
from service.image.cache import BlobCache
from service.image.fetcher import ImageFetcher
from service.registry.credentials import CredentialStore
from service.registry.factory import RegistryClientFactory
from service.sbom import preload
from service.scanning import Orchestrator
from service.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from service.catalog.model import Catalog
    from service.store.catalogs import CatalogStore
    from service.vulndb.model import Finding
    from service.vulndb.store import VulnStore


# engine name -> (module, class): an engine's module loads only when it is used.
_ENGINES = {
    "syft": ("service.catalog.syft", "SyftCataloger"),
    "trivy": ("service.catalog.trivy", "TrivyCataloger"),
}


class _Catalogers(Mapping[str, Cataloger]):
    """The known engines, each built (and its module imported) on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._built: dict[str, Cataloger] = {}

    def __getitem__(self, name: str) -> Cataloger:
        if name not in self._built:
            module, cls = _ENGINES[name]  # KeyError for unknown engines, as for a dict
            self._built[name] = getattr(importlib.import_module(module), cls)(self._settings)
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(_ENGINES)

    def __len__(self) -> int:
        return len(_ENGINES)


def catalogers(settings: Settings) -> Mapping[str, Cataloger]:
    return _Catalogers(settings)


@contextmanager
def image_fetcher(
    settings: Settings, registries: RegistryClientFactory | None = None
) -> Iterator[ImageFetcher]:
    """Pulls with ``registries`` (closed by its owner) or clients built from settings."""
    if registries is not None:
        yield ImageFetcher(BlobCache(settings.blob_cache_dir), registries, settings)
        return
    registries = RegistryClientFactory(settings, CredentialStore.from_settings(settings))
    try:
        yield ImageFetcher(BlobCache(settings.blob_cache_dir), registries, settings)
    finally:
        registries.close()


@contextmanager
def sbom_orchestrator(settings: Settings) -> Iterator[Orchestrator]:
    """Fetch and catalog only: no database is touched (``tollgate sbom``)."""
    with image_fetcher(settings) as fetcher:
        yield Orchestrator(
            source=fetcher,
            catalogers=catalogers(settings),
            default_engine=settings.engine,
            cache=CatalogCache(settings.blob_cache_dir),
            overlap=preload,
        )


class CatalogRecords:
    """Stored catalogs plus their findings, recorded at the vulnerability database's
    revision as read before matching: an import committing while a scan matches makes
    the next re-evaluation look at that catalog again instead of counting it current."""

    def __init__(self, catalogs: CatalogStore, vulns: VulnStore) -> None:
        self._catalogs = catalogs
        self._vulns = vulns
        self._revisions: dict[str, int] = {}  # digest -> revision when its catalog was saved

    def save(self, catalog: Catalog) -> None:
        self._catalogs.save(catalog)
        self._revisions[catalog.image.digest] = self._vulns.revision()

    def record(self, digest: str, findings: list[Finding]) -> None:
        self._catalogs.record_findings({digest: findings}, self._revisions.pop(digest))


@contextmanager
def scan_orchestrator(
    settings: Settings,
    engine: Engine | None = None,
    *,
    registries: RegistryClientFactory | None = None,
) -> Iterator[Orchestrator]:
    """The whole pipeline: catalogs are stored and matched against the vulnerability DB.

    ``registries`` replaces the settings' registry clients (one request's credentials).
    """
    from service.store.catalogs import CatalogStore
    from service.store.database import make_engine
    from service.vulndb.matcher import Matcher
    from service.vulndb.store import VulnStore

    engine = engine or make_engine(settings.sqlalchemy_url)
    vulns = VulnStore(engine)
    with image_fetcher(settings, registries) as fetcher:
        yield Orchestrator(
            source=fetcher,
            catalogers=catalogers(settings),
            default_engine=settings.engine,
            cache=CatalogCache(settings.blob_cache_dir),
            matcher=Matcher(vulns).match,
            sink=CatalogRecords(CatalogStore(engine), vulns),
        )
