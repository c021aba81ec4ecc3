"""What the console reads, handed over by the API application that mounts it.

The console takes the API's service context as it is, by shape (the console and the API
are entry points on one floor: neither imports the other's modules for it).
"""

from __future__ import annotations

from typing import Protocol

from service.auth.tokens import TokenAuthority
from service.jobs.dispatch import Dispatcher
from service.pipeline import Pipeline
from service.settings import Settings
from service.store.admissions import AdmissionLog
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.fleet_history import FleetHistory
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import Scan, ScanStore
from service.store.vex import VexStore


class Submitter(Protocol):
    """Submits a scan idempotently (the API's ``ScanSubmitter``)."""

    def submit(
        self, reference: str, *, platform: str | None, source: str, queue: str
    ) -> tuple[Scan, bool]: ...


class ConsoleContext(Protocol):
    """The stores and collaborators the console's pages read and act through."""

    @property
    def settings(self) -> Settings: ...
    @property
    def images(self) -> ImageStore: ...
    @property
    def scans(self) -> ScanStore: ...
    @property
    def catalogs(self) -> CatalogStore: ...
    @property
    def vulns(self) -> VulnStore: ...
    @property
    def policies(self) -> PolicyStore: ...
    @property
    def vex(self) -> VexStore: ...
    @property
    def admissions(self) -> AdmissionLog: ...
    @property
    def fleet(self) -> FleetHistory: ...
    @property
    def authority(self) -> TokenAuthority: ...
    @property
    def submitter(self) -> Submitter: ...
    @property
    def dispatcher(self) -> Dispatcher: ...
    @property
    def pipeline(self) -> Pipeline: ...
