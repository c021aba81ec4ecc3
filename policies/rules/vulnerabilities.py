"""Vulnerability rules: how many findings at or above a severity / CVSS score an image may
have, and how many packages may go unaudited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from policies.decision import RuleResult
from policies.model import EpssRule, KnownExploitedRule, NotEvaluatedRule, SeverityGateRule
from policies.rules.base import RuleContext, listing, outcome, skipped, unscanned_reason
from service.utc import as_utc
from service.vulndb.model import Finding


def check_severity_gate(rule: SeverityGateRule, context: RuleContext) -> RuleResult:
    return check_finding_count(
        rule,
        context,
        expected=_expectation(rule),
        counted=[f for f in context.findings if _counts(rule, f, context.now)],
        describe=lambda f: f"{f.id} ({f.severity}) in {f.package.name}",
    )


def check_finding_count(
    rule: SeverityGateRule | KnownExploitedRule | EpssRule,
    context: RuleContext,
    *,
    expected: str,
    counted: list[Finding],
    describe: Callable[[Finding], str],
) -> RuleResult:
    """Fires when more of the findings ``counted`` than the rule's ``max_count``."""
    reason = unscanned_reason(context)
    if reason is not None:
        return skipped(rule, expected=expected, reason=reason)
    fired = len(counted) > rule.max_count
    names = sorted({describe(f) for f in counted})
    actual = f"{len(counted)} matching finding(s)" + (f": {listing(names)}" if names else "")
    message = (
        f"{len(counted)} finding(s) exceed the limit of {rule.max_count}: upgrade the packages "
        "named, or allowlist accepted findings with a reason and an expiry"
        if fired
        else "within the limit"
    )
    return outcome(rule, fired=fired, expected=expected, actual=actual, message=message)


def _counts(rule: SeverityGateRule, finding: Finding, now: datetime) -> bool:
    if rule.severity is not None and not finding.severity.at_least(rule.severity):
        return False
    if rule.min_cvss is not None and (
        finding.cvss_score is None or finding.cvss_score < rule.min_cvss
    ):
        return False
    if rule.fixable_only and not finding.fix_available:
        return False
    if rule.grace_days and finding.fix_available and finding.fix_published is not None:
        return now - as_utc(finding.fix_published) >= timedelta(days=rule.grace_days)
    return True


def _expectation(rule: SeverityGateRule) -> str:
    thresholds = []
    if rule.severity is not None:
        thresholds.append(f"severity >= {rule.severity}")
    if rule.min_cvss is not None:
        thresholds.append(f"CVSS >= {rule.min_cvss}")
    if rule.fixable_only:
        thresholds.append("fix available")
    if rule.grace_days:
        thresholds.append(f"fixes published {rule.grace_days}+ days ago")
    return f"at most {rule.max_count} finding(s) with " + " and ".join(thresholds)


def check_not_evaluated(rule: NotEvaluatedRule, context: RuleContext) -> RuleResult:
    kinds = f" {'/'.join(rule.package_types)}" if rule.package_types else ""
    expected = f"at most {rule.max_count}{kinds} package(s) not evaluated"
    reason = unscanned_reason(context)
    if reason is not None:
        return skipped(rule, expected=expected, reason=reason)
    counted = [
        item
        for item in context.subject.not_evaluated
        if not rule.package_types or item.package.type in rule.package_types
    ]
    fired = len(counted) > rule.max_count
    names = [f"{i.package.name} {i.package.version[:40]} ({i.reason})" for i in counted]
    actual = f"{len(counted)} not evaluated" + (f": {listing(names)}" if names else "")
    message = (
        f"{len(counted)} package(s) could not be matched against advisories: import the "
        "missing feeds (tollgate db update) or accept the gap in this rule"
        if fired
        else "every package was evaluated"
        if not counted
        else "within the limit"
    )
    return outcome(rule, fired=fired, expected=expected, actual=actual, message=message)
