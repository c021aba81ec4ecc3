"""Rule checks, one module per family; :func:`check` dispatches on the rule's type."""

from __future__ import annotations

from typing import assert_never

from policies.decision import RuleResult
from policies.model import (
    BaseImageRule,
    DeniedLicensesRule,
    DeniedPackagesRule,
    EfficiencyRule,
    EpssRule,
    HealthcheckRule,
    KnownExploitedRule,
    MaxAgeRule,
    MaxSizeRule,
    NotEvaluatedRule,
    ReferenceRule,
    RequiredAttestationsRule,
    RequiredSignatureRule,
    RootUserRule,
    Rule,
    ScanStatusRule,
    SecretFilesRule,
    SecretsRule,
    SeverityGateRule,
)
from policies.rules.base import RuleContext, outcome
from policies.rules.exploitation import check_epss, check_known_exploited
from policies.rules.hygiene import (
    check_base_image,
    check_healthcheck,
    check_max_age,
    check_max_size,
    check_reference,
    check_root_user,
)
from policies.rules.layers import check_efficiency, check_secret_files
from policies.rules.packages import check_denied_licenses, check_denied_packages
from policies.rules.secrets import check_secrets
from policies.rules.signatures import check_required_attestations, check_required_signature
from policies.rules.vulnerabilities import check_not_evaluated, check_severity_gate

__all__ = ["RuleContext", "check"]


def check(rule: Rule, context: RuleContext) -> RuleResult:  # noqa: PLR0911, PLR0912 - one arm per rule type
    match rule:
        case SeverityGateRule():
            return check_severity_gate(rule, context)
        case NotEvaluatedRule():
            return check_not_evaluated(rule, context)
        case KnownExploitedRule():
            return check_known_exploited(rule, context)
        case EpssRule():
            return check_epss(rule, context)
        case DeniedPackagesRule():
            return check_denied_packages(rule, context)
        case DeniedLicensesRule():
            return check_denied_licenses(rule, context)
        case RequiredSignatureRule():
            return check_required_signature(rule, context)
        case RequiredAttestationsRule():
            return check_required_attestations(rule, context)
        case RootUserRule():
            return check_root_user(rule, context)
        case HealthcheckRule():
            return check_healthcheck(rule, context)
        case ReferenceRule():
            return check_reference(rule, context)
        case SecretsRule():
            return check_secrets(rule, context)
        case SecretFilesRule():
            return check_secret_files(rule, context)
        case EfficiencyRule():
            return check_efficiency(rule, context)
        case BaseImageRule():
            return check_base_image(rule, context)
        case MaxAgeRule():
            return check_max_age(rule, context)
        case MaxSizeRule():
            return check_max_size(rule, context)
        case ScanStatusRule():
            return _check_scan_status(rule, context)
        case _:
            assert_never(rule)


def _check_scan_status(rule: ScanStatusRule, context: RuleContext) -> RuleResult:
    state = context.subject.scan
    fired = state in rule.when
    return outcome(
        rule,
        fired=fired,
        expected="image scanned" + (f" (not {', '.join(rule.when)})" if rule.when else ""),
        actual=f"scan {state}",
        message="scan the image (tollgate scan) and re-evaluate"
        if fired
        else "scan state accepted",
    )
