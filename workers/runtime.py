"""Builds the jobs from settings: the worker-side composition root."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import httpx
from sqlalchemy.engine import Engine

from service.gate import PolicyGate
from service.jobs.decision import ImageDecider
from service.jobs.dispatch import Dispatcher
from service.jobs.pull_auth import PullAuthorization
from service.jobs.scan import MaintenanceJobs, ScanJob
from service.jobs.signing import ServiceSigner
from service.notify.webhooks import WebhookNotifier
from service.registry.credentials import CredentialStore
from service.registry.factory import RegistryClientFactory
from service.registry.outbound import OutboundPolicy
from service.scanning import Orchestrator
from service.settings import Settings
from service.signing.checker import SignatureChecker
from service.signing.keyring import load_signing_key
from service.store.catalogs import CatalogStore
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import ScanStore
from service.vulndb.store import VulnStore
from service.wiring import scan_orchestrator


@dataclass
class Runtime:
    scan: ScanJob
    maintenance: MaintenanceJobs
    http: httpx.Client
    registries: RegistryClientFactory

    def close(self) -> None:
        self.http.close()
        self.registries.close()


def build_decider(
    settings: Settings, engine: Engine, registries: RegistryClientFactory
) -> ImageDecider:
    """The policy gate and the signature checker, plus the service signer when a signing key
    is configured (its signatures are checked too)."""
    key = load_signing_key(settings) if settings.signing_key is not None else None
    signer = None if key is None else ServiceSigner(key, settings.sign_repositories, registries)
    checker = SignatureChecker.from_settings(settings, registries, key)
    return ImageDecider(PolicyGate(PolicyStore(engine)), settings.policy_bundle, checker, signer)


@contextmanager
def pulling_orchestrator(
    settings: Settings, engine: Engine, pull_auth: PullAuthorization | None
) -> Iterator[Orchestrator]:
    """The scan pipeline, pulling with ``pull_auth`` (one request's credentials) when given,
    under the outbound policy of remote requests."""
    outbound = OutboundPolicy.from_settings(settings)
    registries = (
        RegistryClientFactory(settings, CredentialStore.from_settings(settings), outbound=outbound)
        if pull_auth is None
        else pull_auth.registries(settings, outbound)
    )
    try:
        with scan_orchestrator(settings, engine, registries=registries) as orchestrator:
            yield orchestrator
    finally:
        registries.close()


def build_runtime(settings: Settings, engine: Engine, dispatcher: Dispatcher) -> Runtime:
    http = httpx.Client(timeout=10.0)
    registries = RegistryClientFactory(
        settings,
        CredentialStore.from_settings(settings),
        outbound=OutboundPolicy.from_settings(settings),
    )
    notifier = WebhookNotifier(settings.notify_urls, settings.notify_secret, http)
    scans, images = ScanStore(engine), ImageStore(engine)
    catalogs, vulns = CatalogStore(engine), VulnStore(engine)
    decider = build_decider(settings, engine, registries)
    job = ScanJob(
        scans=scans,
        images=images,
        vulns=vulns,
        orchestrator=partial(pulling_orchestrator, settings, engine),
        notifier=notifier,
        lease_seconds=settings.scan_lease_seconds,
        decider=decider,
    )
    maintenance = MaintenanceJobs(
        scans=scans,
        images=images,
        catalogs=catalogs,
        vulns=vulns,
        notifier=notifier,
        dispatcher=dispatcher,
        stranded_after=timedelta(seconds=settings.recovery_interval_seconds),
        decider=decider,
    )
    return Runtime(job, maintenance, http, registries)
