"""Signature rules: a verified signature by a named key, and required attestations."""

from __future__ import annotations

from policies.decision import RuleResult
from policies.model import RequiredAttestationsRule, RequiredSignatureRule
from policies.rules.base import RuleContext, listing, outcome


def check_required_signature(rule: RequiredSignatureRule, context: RuleContext) -> RuleResult:
    signed_by = context.subject.signatures.signed_by
    trusted = sorted(set(signed_by) & set(rule.keys))
    return outcome(
        rule,
        fired=not trusted,
        expected="a verified signature by one of " + listing(list(rule.keys)),
        actual="signed by " + listing(sorted(signed_by)) if signed_by else "no verified signature",
        message=f"signed by {listing(trusted)}"
        if trusted
        else "sign the image with one of the required keys (tollgate sign) and re-evaluate",
    )


def check_required_attestations(rule: RequiredAttestationsRule, context: RuleContext) -> RuleResult:
    present = context.subject.signatures.attestations
    missing = [kind for kind in rule.predicate_types if kind not in present]
    return outcome(
        rule,
        fired=bool(missing),
        expected="verified attestations of type " + listing(list(rule.predicate_types)),
        actual="attestations: " + listing(sorted(set(present)))
        if present
        else "no verified attestation",
        message=f"missing attestation(s): {listing(missing)}" if missing else "all present",
    )
