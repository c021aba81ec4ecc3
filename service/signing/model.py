"""What the signing stage tells the rest of Tollgate about an image: verified facts only."""

from __future__ import annotations

from service.model_base import FrozenModel


class SignatureStatus(FrozenModel):
    """The keys whose signatures verified (ids, fingerprints or ``keyless:<identity>``),
    the predicate types of the attestations that verified, and the OpenVEX documents
    (JSON) attested by a trusted signer (``cosign attest --type openvex``)."""

    signed_by: tuple[str, ...] = ()
    attestations: tuple[str, ...] = ()
    vex: tuple[str, ...] = ()
