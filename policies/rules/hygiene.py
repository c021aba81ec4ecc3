"""Image hygiene from the image's own config and reference: user, healthcheck, how it was
referenced, base image, age and size."""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase

from policies.decision import RuleResult
from policies.model import (
    BaseImageRule,
    HealthcheckRule,
    MaxAgeRule,
    MaxSizeRule,
    ReferenceRule,
    RootUserRule,
)
from policies.rules.base import RuleContext, listing, outcome, skipped
from service.utc import as_utc

BASE_NAME_LABEL = "org.opencontainers.image.base.name"
_ROOT_USERS = {"", "root", "0"}


def check_root_user(rule: RootUserRule, context: RuleContext) -> RuleResult:
    user = context.subject.config.user
    as_root = user.partition(":")[0] in _ROOT_USERS
    return outcome(
        rule,
        fired=as_root,
        expected="USER set to a non-root user",
        actual=f"USER {user!r}" if user else "no USER (runs as root)",
        message="add a USER instruction with an unprivileged user" if as_root else "non-root",
    )


def check_healthcheck(rule: HealthcheckRule, context: RuleContext) -> RuleResult:
    test = context.subject.config.healthcheck
    missing = not test or test[0] == "NONE"
    return outcome(
        rule,
        fired=missing,
        expected="a HEALTHCHECK",
        actual="no HEALTHCHECK" if missing else f"HEALTHCHECK {' '.join(test or ())}",
        message="add a HEALTHCHECK instruction" if missing else "present",
    )


def check_reference(rule: ReferenceRule, context: RuleContext) -> RuleResult:
    subject = context.subject
    if not subject.registry:
        return skipped(
            rule,
            expected="a registry reference",
            reason="a local layout or archive is not deployed by reference",
        )
    problems = []
    if rule.forbid_latest and not subject.pinned_by_digest and subject.tag in (None, "latest"):
        problems.append("referenced by the mutable tag 'latest'")
    if rule.require_digest and not subject.pinned_by_digest:
        problems.append("not pinned by digest")
    wanted = [
        *(["not by 'latest'"] if rule.forbid_latest else []),
        *(["by digest"] if rule.require_digest else []),
    ]
    return outcome(
        rule,
        fired=bool(problems),
        expected="image referenced " + " and ".join(wanted),
        actual=subject.reference,
        message=f"{'; '.join(problems)}: refer to it as {_pinned(context)}"
        if problems
        else "pinned",
    )


def _pinned(context: RuleContext) -> str:
    name = "/".join(part for part in (context.subject.registry, context.subject.repository) if part)
    return f"{name or context.subject.reference}@{context.subject.digest}"


def check_base_image(rule: BaseImageRule, context: RuleContext) -> RuleResult:
    base = context.subject.config.labels.get(BASE_NAME_LABEL)
    allowed = base is not None and any(fnmatchcase(base, pattern) for pattern in rule.allowed)
    return outcome(
        rule,
        fired=not allowed,
        expected="base image one of " + listing(list(rule.allowed)),
        actual=base if base is not None else f"no {BASE_NAME_LABEL} label",
        message="approved base image"
        if allowed
        else f"rebuild FROM an approved base image and set the {BASE_NAME_LABEL} label",
    )


def check_max_age(rule: MaxAgeRule, context: RuleContext) -> RuleResult:
    expected = f"built within the last {rule.days} day(s)"
    created = context.subject.config.created
    if created is None:
        return skipped(rule, expected=expected, reason="the image config has no creation time")
    age = context.now - as_utc(created)
    too_old = age > timedelta(days=rule.days)
    return outcome(
        rule,
        fired=too_old,
        expected=expected,
        actual=f"built {created.isoformat()} ({age.days} day(s) ago)",
        message="rebuild the image to pick up base image updates" if too_old else "recent",
    )


def check_max_size(rule: MaxSizeRule, context: RuleContext) -> RuleResult:
    expected = f"at most {rule.max_size.human_readable()} ({int(rule.max_size)} bytes)"
    size = context.subject.size
    if size is None:
        return skipped(rule, expected=expected, reason="the image size is not known")
    too_big = size > rule.max_size
    return outcome(
        rule,
        fired=too_big,
        expected=expected,
        actual=f"{size} bytes",
        message="slim the image (multi-stage build, smaller base)" if too_big else "within limit",
    )
