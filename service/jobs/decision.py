"""The end of every scan: the image's verified signatures, a policy decision and, after a
pass, the service's signature.

The bundle comes from ``TOLLGATE_POLICY_BUNDLE``; its own mappings pick the policy for
each image (:func:`policies.engine.select_policy`). Every decision is recorded by
:class:`service.gate.PolicyGate`, so it can be audited by digest later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from policies.decision import Decision, Outcome
from policies.model import ScanState
from policies.subject import EvaluationInput, SignatureStatus
from service.gate import PolicyGate
from service.image.model import ImageConfig, ImageReference
from service.image.reference import parse_reference
from service.signing.checker import SignatureChecker, combined

if TYPE_CHECKING:  # annotations only: `tollgate scan` loads none of the signer's stack
    from service.catalog.model import Catalog
    from service.jobs.signing import ServiceSigner
    from service.scanning import ScanOutcome
    from service.store.images import ImageSummary
    from service.vulndb.model import Finding


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    signatures: SignatureStatus


class ImageDecider:
    def __init__(
        self,
        gate: PolicyGate,
        bundle: str,
        checker: SignatureChecker,
        signer: ServiceSigner | None = None,
    ) -> None:
        self._gate = gate
        self._bundle = bundle
        self._checker = checker
        self._signer = signer

    def decide(self, outcome: ScanOutcome) -> Verdict:
        """Decide on a finished scan with the signatures that verify now (nothing signed)."""
        signatures = self._checker.verified(outcome.image)
        subject = EvaluationInput.from_pinned(
            outcome.image,
            scan=ScanState.SCANNED,
            catalog=outcome.catalog,
            findings=tuple(outcome.findings),
            signatures=signatures,
        )
        return Verdict(self._gate.decide(subject, self._bundle), signatures)

    def scanned(self, outcome: ScanOutcome, db_revision: int) -> Verdict:
        """Decide on a finished scan; sign and attest it when it passed and is in scope."""
        verdict = self.decide(outcome)
        signer = self._signer
        if (
            verdict.decision.outcome is Outcome.PASS
            and signer is not None
            and signer.applies(outcome.image)
        ):
            signed = signer.sign(outcome, db_revision)
            return Verdict(verdict.decision, combined(verdict.signatures, signed))
        return verdict

    def failed(self, ref: ImageReference, reference: str, digest: str) -> Decision:
        """Decide on an image whose scan failed (policies usually block those)."""
        subject = EvaluationInput(
            reference=reference,
            registry=ref.registry or "",
            repository=ref.repository or "",
            tag=ref.tag,
            digest=digest,
            pinned_by_digest=ref.digest is not None,
            scan=ScanState.FAILED,
        )
        return self._gate.decide(subject, self._bundle)

    def reevaluated(
        self, image: ImageSummary, catalog: Catalog, findings: list[Finding]
    ) -> Decision:
        """Decide again on a stored image whose findings changed (vulnerability DB update)."""
        ref = parse_reference(image.reference)
        subject = EvaluationInput(
            reference=image.reference,
            registry=image.registry,
            repository=image.repository,
            tag=ref.tag,
            digest=image.digest,
            pinned_by_digest=ref.digest is not None,
            config=image.config or ImageConfig(),
            size=image.size,
            scan=ScanState.SCANNED,
            catalog=catalog,
            findings=tuple(findings),
            signatures=image.signatures,
        )
        return self._gate.decide(subject, self._bundle)
