"""What every rule check receives and the helpers that shape its result."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from policies.decision import RuleResult
from policies.model import Rule, ScanState
from policies.subject import EvaluationInput
from service.vulndb.model import Finding


@dataclass(frozen=True)
class RuleContext:
    """The subject, the evaluation time and the findings left after VEX and the allowlist."""

    subject: EvaluationInput
    now: datetime
    findings: tuple[Finding, ...]


def outcome(rule: Rule, *, fired: bool, expected: str, actual: str, message: str) -> RuleResult:
    return RuleResult(
        rule_id=rule.id,
        type=rule.type,
        action=rule.action,
        fired=fired,
        expected=expected,
        actual=actual,
        message=message,
    )


def skipped(rule: Rule, *, expected: str, reason: str) -> RuleResult:
    return RuleResult(
        rule_id=rule.id,
        type=rule.type,
        action=rule.action,
        fired=False,
        skipped=True,
        expected=expected,
        actual="not evaluated",
        message=reason,
    )


def unscanned_reason(context: RuleContext) -> str | None:
    """Why package/vulnerability rules cannot run, or None when the image was scanned."""
    if context.subject.scan is ScanState.SCANNED:
        return None
    return f"image scan is {context.subject.scan}: no packages or findings to check"


def listing(items: list[str], limit: int = 5) -> str:
    """``a, b, c`` or ``a, b, c, … (+7 more)`` for messages that stay readable."""
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown}, … (+{len(items) - limit} more)"
