"""Package rules: denied packages (purl pattern + version range) and denied licences."""

from __future__ import annotations

from fnmatch import fnmatchcase
from functools import lru_cache

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
)

from policies.decision import RuleResult
from policies.model import DeniedLicensesRule, DeniedPackage, DeniedPackagesRule
from policies.rules.base import RuleContext, listing, outcome, skipped, unscanned_reason
from policies.versions import in_range, parse_range
from service.catalog.model import Package

_LICENSING = Licensing()


def check_denied_packages(rule: DeniedPackagesRule, context: RuleContext) -> RuleResult:
    expected = "no package matching " + listing(
        [d.purl + (f" {d.versions}" if d.versions else "") for d in rule.packages]
    )
    reason = unscanned_reason(context)
    catalog = context.subject.catalog
    if reason is not None or catalog is None:
        return skipped(rule, expected=expected, reason=reason or "no package catalog")
    hits = sorted(
        {
            hit
            for package in catalog.packages
            if package.purl is not None
            for unversioned in [_unversioned(package.purl)]
            for denied in rule.packages
            if (hit := _hit(package, unversioned, denied)) is not None
        }
    )
    return outcome(
        rule,
        fired=bool(hits),
        expected=expected,
        actual=f"{len(hits)} denied package(s)" + (f": {listing(hits)}" if hits else ""),
        message="remove or upgrade the denied packages" if hits else "no denied package present",
    )


def _unversioned(purl: str) -> str:
    return purl.split("?", maxsplit=1)[0].split("#", maxsplit=1)[0].rsplit("@", 1)[0]


def _hit(package: Package, unversioned: str, denied: DeniedPackage) -> str | None:
    """How ``package`` (its purl without version) matches ``denied``, or None. Versions the
    range cannot compare are denied (fail closed) and say so."""
    if not fnmatchcase(unversioned, denied.purl):
        return None
    note = ""
    if denied.versions is not None:
        contained = in_range(package.version, parse_range(denied.versions, unversioned))
        if contained is False:
            return None
        if contained is None:
            note = " [version not comparable: denied to be safe]"
    why = f" ({denied.reason})" if denied.reason else ""
    return f"{package.name}@{package.version}{why}{note}"


def check_denied_licenses(rule: DeniedLicensesRule, context: RuleContext) -> RuleResult:
    expected = "no package that requires " + listing(list(rule.licenses))
    reason = unscanned_reason(context)
    catalog = context.subject.catalog
    if reason is not None or catalog is None:
        return skipped(rule, expected=expected, reason=reason or "no package catalog")
    denied = tuple(pattern.lower() for pattern in rule.licenses)
    hits = sorted(
        f"{package.name}@{package.version} ({' AND '.join(package.licenses)})"
        for package in catalog.packages
        if package.licenses and _requires_denied(package.licenses, denied)
    )
    return outcome(
        rule,
        fired=bool(hits),
        expected=expected,
        actual=f"{len(hits)} package(s)" + (f": {listing(hits)}" if hits else ""),
        message="replace the packages or get their licences approved"
        if hits
        else "no denied licence",
    )


def _requires_denied(licenses: tuple[str, ...], denied: tuple[str, ...]) -> bool:
    """Each declared licence applies; an expression is fine if some choice avoids ``denied``."""
    return not all(_satisfiable(expression, denied) for expression in licenses)


@lru_cache(maxsize=4096)
def _satisfiable(expression: str, denied: tuple[str, ...]) -> bool:
    try:
        parsed = _LICENSING.parse(expression)
    except ExpressionError:
        return not _is_denied(expression, denied)
    return parsed is None or _allowed(parsed, denied)


def _allowed(node: object, denied: tuple[str, ...]) -> bool:
    if isinstance(node, LicenseWithExceptionSymbol):
        return _allowed(node.license_symbol, denied)
    if isinstance(node, LicenseSymbol):
        return not _is_denied(node.key, denied)
    if isinstance(node, OR):
        return any(_allowed(arg, denied) for arg in node.args)
    if isinstance(node, AND):
        return all(_allowed(arg, denied) for arg in node.args)
    raise TypeError(f"unexpected licence expression node {node!r}")


def _is_denied(key: str, denied: tuple[str, ...]) -> bool:
    return any(fnmatchcase(key.lower(), pattern) for pattern in denied)
