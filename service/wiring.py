"""Composition root: the one place that builds Tollgate's collaborators from settings.

The CLI commands, the API app (with its embedded workers), Celery workers and admission
all get their collaborators here, so they share one code path: :func:`components` builds
the stores, registry clients, notifier, policy gate, signature checker, service signer
and the :class:`service.pipeline.Pipeline` over them; :func:`service_jobs` adds the scan
jobs and the dispatcher of the running service. Database modules load only for the full
pipeline, so ``tollgate sbom`` never pays for them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from functools import cache, cached_property, partial
from typing import TYPE_CHECKING

from service.acquire.fetcher import ImageFetcher
from service.catalog.cache import CatalogCache
from service.catalog.interface import Cataloger
from service.image.cache import BlobCache
from service.registry.credentials import CredentialStore
from service.registry.factory import RegistryClientFactory
from service.registry.outbound import OutboundPolicy
from service.sbom import SbomFormat
from service.sbom.writer import WriterProcess
from service.scanning import Orchestrator
from service.settings import Settings

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Engine

    from service.catalog.model import Catalog
    from service.gate import PolicyGate
    from service.jobs.dispatch import Dispatcher
    from service.jobs.scan import MaintenanceJobs, ScanJob
    from service.jobs.submission import EngineVersion, ScanSubmitter
    from service.layers.analyzer import LayerAnalyzer
    from service.pipeline import Pipeline
    from service.registry.pull_auth import PullAuthorization
    from service.store.advisories import VulnStore
    from service.store.catalogs import CatalogStore
    from service.store.fleet_history import FleetHistory
    from service.store.images import ImageStore
    from service.store.policies import PolicyStore
    from service.store.scans import ScanStore
    from service.store.vex import VexStore
    from service.vulndb.model import Finding


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
    registries = registry_clients(settings)
    try:
        yield ImageFetcher(BlobCache(settings.blob_cache_dir), registries, settings)
    finally:
        registries.close()


def registry_clients(
    settings: Settings, outbound: OutboundPolicy | None = None
) -> RegistryClientFactory:
    """Registry clients with the configured credentials (the caller closes them), reaching
    what ``outbound`` allows (default: anything, as the local CLI may)."""
    return RegistryClientFactory(
        settings, CredentialStore.from_settings(settings), outbound=outbound
    )


# An admission answer must come well within the webhook's timeout: fail fast, do not retry.
ADMISSION_REGISTRY_TIMEOUT_S = 2.0


def admission_registries(settings: Settings) -> RegistryClientFactory:
    """Registry clients for admission's tag resolution: short timeout, no retries, under
    the outbound policy of remote requests (whoever creates a Pod names the image)."""
    fast = replace(
        settings,
        registry_timeout=min(settings.registry_timeout, ADMISSION_REGISTRY_TIMEOUT_S),
        registry_retries=0,
    )
    return registry_clients(fast, OutboundPolicy.from_settings(settings))


def layer_analyzer(settings: Settings) -> LayerAnalyzer:
    """Layers analysed once by digest, from the blob cache, cached beside it."""
    from service.layers.analyzer import LayerAnalyzer
    from service.layers.cache import LayerCache

    root = settings.blob_cache_dir
    return LayerAnalyzer(BlobCache(root), LayerCache(root))


@contextmanager
def sbom_orchestrator(
    settings: Settings, fmt: SbomFormat, *, fork_writer: bool = False
) -> Iterator[Orchestrator]:
    """Fetch and catalog only, for SBOMs in ``fmt``: no database is touched (``tollgate
    sbom``). ``fork_writer``: the documents are made by a child forked now
    (:class:`~service.sbom.writer.WriterProcess`), for a command that makes one."""
    writer = WriterProcess(fmt, fork=fork_writer)
    try:
        with image_fetcher(settings) as fetcher:
            yield Orchestrator(
                source=fetcher,
                catalogers=catalogers(settings),
                default_engine=settings.engine,
                cache=CatalogCache(settings.blob_cache_dir),
                writer=writer,
            )
    finally:
        writer.close()


class CatalogRecords:
    """Stored catalogs plus their findings, recorded at the vulnerability database's
    revision as read before matching: an import committing while a scan matches makes
    the next re-evaluation look at that catalog again instead of counting it current."""

    def __init__(self, catalogs: CatalogStore, vulns: VulnStore) -> None:
        self._catalogs = catalogs
        self._vulns = vulns
        self._revisions: dict[str, int] = {}  # digest -> revision when its catalog was saved

    def save(self, catalog: Catalog) -> None:
        from service.vulndb.ecosystems import matchable

        self._catalogs.save(catalog, matchable(catalog))
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
    from service.store.advisories import VulnStore
    from service.store.catalogs import CatalogStore
    from service.store.database import make_engine
    from service.vulndb.matcher import Matcher

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
            layers=layer_analyzer(settings),
        )


@dataclass
class Components:
    """Every collaborator of the full pipeline, built once per process."""

    settings: Settings
    engine: Engine
    registries: RegistryClientFactory
    http: httpx.Client
    images: ImageStore
    catalogs: CatalogStore
    vulns: VulnStore
    policies: PolicyStore
    vex: VexStore
    gate: PolicyGate
    pipeline: Pipeline

    @cached_property
    def scans(self) -> ScanStore:
        """The scan queue's store (the service's; a CLI scan does not load it)."""
        from service.store.scans import ScanStore

        return ScanStore(self.engine)

    @cached_property
    def fleet(self) -> FleetHistory:
        """The fleet's findings per day (the dashboard's trend; written by maintenance)."""
        from service.store.fleet_history import FleetHistory

        return FleetHistory(self.engine)

    def close(self) -> None:
        self.http.close()
        self.registries.close()


def components(
    settings: Settings, engine: Engine | None = None, *, outbound: OutboundPolicy
) -> Components:
    """The stores and the pipeline over them (close the result: it holds HTTP clients).

    ``outbound``: what pulls may reach: :meth:`OutboundPolicy.from_settings` for the service
    (remote requests choose the images), :meth:`OutboundPolicy.unrestricted` for the CLI."""
    import httpx

    from service.gate import PolicyGate
    from service.notify.webhooks import WebhookNotifier
    from service.pipeline import Pipeline
    from service.signing.checker import SignatureChecker
    from service.signing.keyring import load_signing_key
    from service.store.advisories import VulnStore
    from service.store.catalogs import CatalogStore
    from service.store.database import make_engine
    from service.store.images import ImageStore
    from service.store.policies import PolicyStore
    from service.store.vex import VexStore

    engine = engine or make_engine(settings.sqlalchemy_url)
    registries = registry_clients(settings, outbound)
    http = httpx.Client(timeout=10.0)
    key = load_signing_key(settings) if settings.signing_key is not None else None
    signer = None
    if key is not None:
        from service.signing.service_signer import ServiceSigner

        signer = ServiceSigner(key, settings.sign_repositories, registries)
    policies = PolicyStore(engine)
    gate = PolicyGate(policies)
    images, catalogs, vulns, vex = (
        ImageStore(engine),
        CatalogStore(engine),
        VulnStore(engine),
        VexStore(engine),
    )
    pipeline = Pipeline(
        orchestrators=partial(_pulling_orchestrator, settings, engine, registries, outbound),
        gate=gate,
        bundle=settings.policy_bundle,
        checker=SignatureChecker.from_settings(settings, registries, key),
        signer=signer,
        images=images,
        catalogs=catalogs,
        vulns=vulns,
        vex=vex,
        notifier=WebhookNotifier(settings.notify_urls, settings.notify_secret, http),
    )
    return Components(
        settings=settings,
        engine=engine,
        registries=registries,
        http=http,
        images=images,
        catalogs=catalogs,
        vulns=vulns,
        policies=policies,
        vex=vex,
        gate=gate,
        pipeline=pipeline,
    )


@contextmanager
def pipeline_components(settings: Settings) -> Iterator[Components]:
    """:func:`components` for one command (pulls unrestricted), closed when it ends."""
    built = components(settings, outbound=OutboundPolicy.unrestricted())
    try:
        yield built
    finally:
        built.close()


@contextmanager
def _pulling_orchestrator(
    settings: Settings,
    engine: Engine,
    registries: RegistryClientFactory,
    outbound: OutboundPolicy,
    pull_auth: PullAuthorization | None,
) -> Iterator[Orchestrator]:
    """The scan orchestrator, pulling with ``pull_auth`` (one request's credentials) when
    given, else with the process's registry clients."""
    if pull_auth is None:
        with scan_orchestrator(settings, engine, registries=registries) as orchestrator:
            yield orchestrator
        return
    own = pull_auth.registries(settings, outbound)
    try:
        with scan_orchestrator(settings, engine, registries=own) as orchestrator:
            yield orchestrator
    finally:
        own.close()


@dataclass
class ServiceJobs:
    """What the running service adds to :class:`Components`: the queue's dispatcher, the
    scan and recovery jobs, the scan submitter; ``start``/``stop`` run an in-process pool."""

    dispatcher: Dispatcher
    scan: ScanJob
    maintenance: MaintenanceJobs
    submitter: ScanSubmitter
    start: Callable[[], None]
    stop: Callable[[], None]


def service_jobs(
    built: Components,
    *,
    dispatcher: Dispatcher | None = None,
    engine_version: EngineVersion | None = None,
) -> ServiceJobs:
    """Celery when ``TOLLGATE_BROKER_URL`` is set, else an in-process pool (embedded mode);
    ``dispatcher`` replaces both (tests)."""
    from datetime import timedelta

    from service.jobs.dispatch import Queue
    from service.jobs.rate import SubmissionRate
    from service.jobs.scan import MaintenanceJobs, ScanJob
    from service.jobs.submission import ScanSubmitter
    from service.store.admissions import AdmissionLog

    settings = built.settings
    start: Callable[[], None] = _nothing
    stop: Callable[[], None] = _nothing
    executor = None
    if dispatcher is None:
        if settings.broker_url:
            dispatcher = celery_dispatcher(settings)
        else:
            from service.jobs.embedded import EmbeddedExecutor

            executor = EmbeddedExecutor(settings)
            dispatcher, start, stop = executor, executor.start, executor.stop
    job = ScanJob(built.scans, built.pipeline, settings.scan_lease_seconds)
    maintenance = MaintenanceJobs(
        built.scans,
        dispatcher,
        timedelta(seconds=settings.recovery_interval_seconds),
        built.images,
        built.fleet,
        AdmissionLog(built.engine),
        timedelta(days=settings.admission_log_days),
    )
    if executor is not None:
        executor.bind(job, maintenance, built.pipeline.redecide_all)
    submitter = ScanSubmitter(
        built.scans,
        built.vulns,
        dispatcher,
        engine=settings.engine,
        engine_version=engine_version or engine_versions(settings),
        rate=SubmissionRate(settings.scan_rate_per_minute, settings.scan_rate_burst),
        # Admission's scans are never refused: a workload waits on them within its budget.
        queue_limits={Queue.PUSH.value: settings.scan_queue_limit},
    )
    return ServiceJobs(dispatcher, job, maintenance, submitter, start, stop)


def celery_dispatcher(settings: Settings) -> Dispatcher:
    from service.jobs.celery_config import make_celery
    from service.jobs.celery_dispatch import CeleryDispatcher
    from service.registry.pull_auth import PullAuthSealer

    return CeleryDispatcher(make_celery(settings), PullAuthSealer.from_settings(settings))


def engine_versions(settings: Settings) -> EngineVersion:
    """Each engine's version, asked once (it is part of the scan idempotency key)."""
    engines = catalogers(settings)

    @cache
    def version(name: str) -> str:
        return engines[name].version()

    return version


def _nothing() -> None:
    """Lifecycle hook of dispatchers that need no start/stop."""
