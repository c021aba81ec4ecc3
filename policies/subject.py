"""What a policy is evaluated against: one image, its facts, packages, findings and signatures.

Everything here is already typed and verified by earlier pipeline stages; the engine
does no I/O. :meth:`EvaluationInput.from_pinned` builds one from a fetched image.
"""

from __future__ import annotations

from policies.model import ScanState
from service.catalog.model import Catalog
from service.image.model import ImageConfig, PinnedImage
from service.layers.model import LayerAnalysis
from service.model_base import FrozenModel
from service.signing.model import SignatureStatus
from service.vulndb.model import Finding, NotEvaluated


class EvaluationInput(FrozenModel):
    """One image as the policy engine sees it.

    ``digest`` is the resolved manifest digest; ``pinned_by_digest`` says whether the
    user named the image by digest (``app@sha256:…``) rather than by tag alone.
    ``catalog`` is None and ``findings`` empty unless ``scan`` is ``scanned``;
    ``not_evaluated`` lists the packages no advisory data could audit; ``layers`` is the
    analysis of the image's layers (None when they were not analysed).
    """

    reference: str
    registry: str = ""
    repository: str = ""
    tag: str | None = None
    digest: str
    pinned_by_digest: bool = False
    config: ImageConfig = ImageConfig()
    size: int | None = None
    scan: ScanState = ScanState.SCANNED
    catalog: Catalog | None = None
    findings: tuple[Finding, ...] = ()  # VEX already applied: suppressed ones carry ``vex``
    not_evaluated: tuple[NotEvaluated, ...] = ()
    signatures: SignatureStatus = SignatureStatus()
    layers: LayerAnalysis | None = None

    @classmethod
    def from_pinned(
        cls,
        image: PinnedImage,
        *,
        scan: ScanState,
        catalog: Catalog | None = None,
        findings: tuple[Finding, ...] = (),
        not_evaluated: tuple[NotEvaluated, ...] = (),
        signatures: SignatureStatus | None = None,
        layers: LayerAnalysis | None = None,
    ) -> EvaluationInput:
        ref = image.reference
        return cls(
            reference=image.display_name,
            registry=ref.registry or "",
            repository=ref.repository or "",
            tag=ref.tag,
            digest=image.digest,
            pinned_by_digest=ref.digest is not None,
            config=image.config,
            size=image.size,
            scan=scan,
            catalog=catalog,
            findings=findings,
            not_evaluated=not_evaluated,
            signatures=signatures or SignatureStatus(),
            layers=layers,
        )
