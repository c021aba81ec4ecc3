"""The result of one evaluation, complete enough for an auditor months later.

A :class:`Decision` names the policy (bundle, version, policy), when it was
evaluated and why (its trigger), every rule's outcome with what it expected and what it
saw, the findings an allowlist entry let through (with who accepted them and why), those
a VEX statement suppressed (with its status and source) and the allowlist entries that
had expired.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from policies.model import Action
from service.model_base import FrozenModel


class Outcome(StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    WARN = "warn"
    BLOCK = "block"


class RuleResult(FrozenModel):
    """One rule's outcome. ``skipped`` rules did not run (``message`` says why) and never fire."""

    rule_id: str
    type: str
    action: Action
    fired: bool
    skipped: bool = False
    expected: str
    actual: str
    message: str


class AllowlistedFinding(FrozenModel):
    vulnerability: str
    package: str
    reason: str
    author: str
    expires: date | None


class VexSuppressedFinding(FrozenModel):
    """A finding a VEX statement removed from every rule's count."""

    vulnerability: str
    package: str
    status: str
    justification: str | None
    source: str


class ExpiredAllowlistEntry(FrozenModel):
    vulnerability: str
    package: str | None
    repository: str
    expired_on: date
    reason: str
    author: str


class Decision(FrozenModel):
    outcome: Outcome
    image: str
    digest: str
    bundle: str | None
    bundle_version: int | None
    policy: str
    evaluated_at: datetime
    rule_results: tuple[RuleResult, ...]
    allowlisted: tuple[AllowlistedFinding, ...] = ()
    vex_suppressed: tuple[VexSuppressedFinding, ...] = ()
    expired_allowlist: tuple[ExpiredAllowlistEntry, ...] = ()
    trigger: str | None = None  # why it was made: a scan, "new advisories …", "policy …"

    @property
    def fired(self) -> tuple[RuleResult, ...]:
        return tuple(result for result in self.rule_results if result.fired)


def outcome_of(results: tuple[RuleResult, ...]) -> Outcome:
    """Block if a blocking rule fired, warn if only warning rules fired, else pass."""
    actions = {result.action for result in results if result.fired}
    if Action.BLOCK in actions:
        return Outcome.BLOCK
    if Action.WARN in actions:
        return Outcome.WARN
    return Outcome.PASS
