"""Evaluate a policy against one image: pure Python, no I/O, cheap enough to run per request.

:func:`select_policy` picks a bundle's policy by its mappings (first match wins, then the
default); :func:`evaluate` runs every rule of one policy; :func:`evaluate_bundle` does both.
"""

from __future__ import annotations

import logging
from datetime import datetime
from fnmatch import fnmatchcase

from policies.allowlist import apply_allowlist
from policies.decision import Decision, VexSuppressedFinding, outcome_of
from policies.model import Bundle, Mapping, Policy
from policies.rules import RuleContext, check
from policies.subject import EvaluationInput
from service.errors import PolicyError

logger = logging.getLogger(__name__)


def select_policy(bundle: Bundle, subject: EvaluationInput) -> Policy:
    mapping = next((m for m in bundle.mappings if _matches(m, subject)), None)
    return bundle.policy(mapping.policy if mapping is not None else bundle.default)


def _matches(mapping: Mapping, subject: EvaluationInput) -> bool:
    return (
        fnmatchcase(subject.registry, mapping.registry)
        and fnmatchcase(subject.repository, mapping.repository)
        and fnmatchcase(subject.tag or "", mapping.tag)
    )


def evaluate(
    policy: Policy,
    subject: EvaluationInput,
    *,
    now: datetime,
    bundle: Bundle | None = None,
) -> Decision:
    """Run every rule of ``policy``; ``now`` must be timezone-aware (grace periods, expiry)."""
    if now.tzinfo is None:
        raise PolicyError("evaluation time must be timezone-aware", hint="pass datetime.now(UTC)")
    unsuppressed = tuple(f for f in subject.findings if f.vex is None)
    suppressed = tuple(
        VexSuppressedFinding(
            vulnerability=f.id,
            package=f.package.purl or f.package.name,
            status=f.vex.status,
            justification=f.vex.justification,
            source=f.vex.source,
        )
        for f in subject.findings
        if f.vex is not None
    )
    allowlist = apply_allowlist(
        policy.allowlist, unsuppressed, repository=subject.repository, today=now.date()
    )
    context = RuleContext(subject=subject, now=now, findings=allowlist.remaining)
    results = tuple(check(rule, context) for rule in policy.rules)
    decision = Decision(
        outcome=outcome_of(results),
        image=subject.reference,
        digest=subject.digest,
        bundle=bundle.name if bundle is not None else None,
        bundle_version=bundle.version if bundle is not None else None,
        policy=policy.name,
        evaluated_at=now,
        rule_results=results,
        allowlisted=allowlist.allowlisted,
        vex_suppressed=suppressed,
        expired_allowlist=allowlist.expired,
    )
    logger.info(
        "policy %s: %s for %s (%d rule(s) fired)",
        policy.name,
        decision.outcome,
        subject.digest,
        len(decision.fired),
    )
    return decision


def evaluate_bundle(bundle: Bundle, subject: EvaluationInput, *, now: datetime) -> Decision:
    return evaluate(select_policy(bundle, subject), subject, now=now, bundle=bundle)
