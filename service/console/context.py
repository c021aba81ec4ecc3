"""What every console page needs, handed over by the API application that mounts it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.auth.tokens import TokenAuthority
from service.console.session import SessionSigner, session_key
from service.settings import Settings
from service.store.catalogs import CatalogStore
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from service.store.scans import Scan, ScanStore
from service.vulndb.store import VulnStore


class Submitter(Protocol):
    """Submits a scan idempotently (the API's ``ScanSubmitter``)."""

    def submit(
        self, reference: str, *, platform: str | None, source: str, queue: str
    ) -> tuple[Scan, bool]: ...


class ServiceParts(Protocol):
    """The parts of the API's service context the console reads (matched by shape)."""

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
    def authority(self) -> TokenAuthority: ...
    @property
    def submitter(self) -> Submitter: ...


@dataclass(frozen=True)
class ConsoleContext:
    settings: Settings
    images: ImageStore
    scans: ScanStore
    catalogs: CatalogStore
    vulns: VulnStore
    policies: PolicyStore
    authority: TokenAuthority
    submitter: Submitter
    signer: SessionSigner

    @classmethod
    def of(cls, parts: ServiceParts) -> ConsoleContext:
        """The console's view of ``parts``, signing sessions with a key from the settings."""
        return cls(
            settings=parts.settings,
            images=parts.images,
            scans=parts.scans,
            catalogs=parts.catalogs,
            vulns=parts.vulns,
            policies=parts.policies,
            authority=parts.authority,
            submitter=parts.submitter,
            signer=SessionSigner(session_key(parts.settings.webhook_secret)),
        )
