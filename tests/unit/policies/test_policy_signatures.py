from __future__ import annotations

from policies.engine import evaluate
from service.signing.model import SignatureStatus
from tests.unit.policies.policy_helpers import NOW, policy_of, subject

SLSA = "https://slsa.dev/provenance/v1"
CDX = "https://cyclonedx.org/bom"
RULES = (
    {"id": "signed", "type": "required_signature", "action": "block", "keys": ["release", "ops"]},
    {
        "id": "attested",
        "type": "required_attestations",
        "action": "warn",
        "predicate_types": [SLSA, CDX],
    },
)


def _results(status: SignatureStatus) -> dict[str, bool]:
    decision = evaluate(policy_of(*RULES), subject(signatures=status), now=NOW)
    return {r.rule_id: r.fired for r in decision.rule_results}


def test_unsigned_image_fires_both_rules() -> None:
    assert _results(SignatureStatus()) == {"signed": True, "attested": True}


def test_signature_by_an_unlisted_key_does_not_count() -> None:
    assert _results(SignatureStatus(signed_by=("someone-else",)))["signed"] is True


def test_one_named_key_and_every_attestation_pass() -> None:
    status = SignatureStatus(signed_by=("ops", "someone-else"), attestations=(CDX, SLSA))
    assert _results(status) == {"signed": False, "attested": False}


def test_missing_attestation_is_named() -> None:
    decision = evaluate(
        policy_of(*RULES), subject(signatures=SignatureStatus(attestations=(CDX,))), now=NOW
    )
    attested = decision.rule_results[1]
    assert attested.fired and SLSA in attested.message and decision.outcome == "block"
