"""The service's own signatures: sign and attest images that passed policy.

Only repositories matching ``TOLLGATE_SIGN_REPOSITORIES`` globs are signed (matched
against ``repository`` and ``registry/repository``). Each signed image gets a cosign
signature (``.sig``), a CycloneDX SBOM attestation and a vulnerability attestation
(``.att``), verified back from the registry before they are reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from service.catalog.model import Catalog
from service.errors import SigningError
from service.image.model import PinnedImage
from service.registry.interface import Registry
from service.sbom import SbomFormat, render
from service.signing.attestation import PREDICATE_TYPES
from service.signing.keyring import SigningKey
from service.signing.model import SignatureStatus
from service.signing.signer import attest_image, sign_image
from service.signing.status import signature_status
from service.signing.store import AttachmentStore
from service.vulndb.model import Finding

logger = logging.getLogger(__name__)

ATTESTATION_TYPES = ("cyclonedx", "vuln")
SCANNER_URI = "pkg:pypi/tollgate"


def vuln_predicate(
    catalog: Catalog, findings: Sequence[Finding], db_revision: int, now: datetime
) -> dict[str, Any]:
    """Cosign's vulnerability predicate (``--type vuln``) holding Tollgate's findings."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "invocation": {"parameters": None, "uri": "", "event_id": "", "builder.id": ""},
        "scanner": {
            "uri": SCANNER_URI,
            "version": f"{catalog.engine} {catalog.engine_version}",
            "db": {"uri": "tollgate-vulndb", "version": str(db_revision)},
            "result": {"findings": [f.model_dump(mode="json") for f in findings]},
        },
        "metadata": {"scanStartedOn": stamp, "scanFinishedOn": stamp},
    }


class ServiceSigner:
    """Signs with the service key; ``registries(host)`` gives the client for a registry."""

    def __init__(
        self,
        key: SigningKey,
        repositories: Sequence[str],
        registries: Callable[[str], Registry],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.key = key
        self._repositories = tuple(repositories)
        self._registries = registries
        self._clock = clock

    def applies(self, image: PinnedImage) -> bool:
        ref = image.reference
        if not ref.registry or not ref.repository:
            return False
        names = (ref.repository, f"{ref.registry}/{ref.repository}")
        return any(fnmatchcase(name, glob) for glob in self._repositories for name in names)

    def status(self, image: PinnedImage) -> SignatureStatus:
        """What verifies now with the service key (empty for images outside a registry)."""
        ref = image.reference
        if not ref.registry or not ref.repository:
            return SignatureStatus()
        return signature_status(
            self._registries(ref.registry),
            ref,
            image.digest,
            {self.key.key_id: self.key.public_key},
            ATTESTATION_TYPES,
        )

    def sign(
        self, image: PinnedImage, catalog: Catalog, findings: Sequence[Finding], db_revision: int
    ) -> SignatureStatus:
        """Sign, attach the SBOM and vulnerability attestations, return the verified status."""
        ref = image.reference
        assert ref.registry and ref.repository, "applies() admits registry images only"
        store = AttachmentStore(self._registries(ref.registry))
        name = f"{ref.registry}/{ref.repository}"
        sign_image(
            store,
            self.key.private_key,
            repository=ref.repository,
            docker_reference=name,
            image_digest=image.digest,
        )
        now = self._clock()
        predicates = {
            "cyclonedx": json.loads(render(catalog, SbomFormat.CYCLONEDX_JSON)),
            "vuln": vuln_predicate(catalog, findings, db_revision, now),
        }
        present = set(self.status(image).attestations)
        for type_name, predicate in predicates.items():
            if PREDICATE_TYPES[type_name] in present:
                continue  # a retried job does not attach the same attestation twice
            attest_image(
                store,
                self.key.private_key,
                repository=ref.repository,
                subject_name=name,
                image_digest=image.digest,
                predicate_type=PREDICATE_TYPES[type_name],
                predicate=predicate,
            )
        status = self.status(image)
        if self.key.key_id not in status.signed_by:
            raise SigningError(
                f"the signature of {name}@{image.digest} did not verify after signing",
                hint="check that the registry keeps the .sig tag it was sent",
            )
        logger.info("signed and attested %s@%s with %s", name, image.digest, self.key.key_id)
        return status
