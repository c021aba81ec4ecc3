"""Severity gates and the allowlist, on findings the real matcher computed from OSV records."""

from __future__ import annotations

from datetime import date, timedelta

from policies.engine import evaluate
from policies.model import ScanState
from service.catalog.model import Catalog
from service.vulndb.model import Finding, NotEvaluated, PackageRef, Severity, VexState
from tests.unit.policies.policy_helpers import NOW, policy_of, subject

Scan = tuple[Catalog, tuple[Finding, ...]]


def _gate(**fields: object) -> dict[str, object]:
    return {"id": "gate", "type": "severity_gate", "action": "block", **fields}


def test_gate_counts_findings_at_or_above_the_severity(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    high_or_worse = [f for f in findings if f.severity.at_least(Severity.HIGH)]
    assert high_or_worse
    image = subject(catalog=catalog, findings=findings)

    blocked = evaluate(policy_of(_gate(severity="high")), image, now=NOW)
    result = blocked.rule_results[0]
    assert blocked.outcome == "block" and result.fired
    assert result.actual.startswith(f"{len(high_or_worse)} matching finding(s)")
    assert result.expected == "at most 0 finding(s) with severity >= high"

    tolerant = policy_of(_gate(severity="high", max_count=len(high_or_worse)))
    assert evaluate(tolerant, image, now=NOW).outcome == "pass"


def test_cvss_threshold_ignores_unscored_findings(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    threshold = max(f.cvss_score for f in findings if f.cvss_score is not None)
    top = [f for f in findings if f.cvss_score is not None and f.cvss_score >= threshold]
    decision = evaluate(
        policy_of(_gate(min_cvss=threshold, max_count=len(top) - 1)),
        subject(catalog=catalog, findings=findings),
        now=NOW,
    )
    assert decision.rule_results[0].actual.startswith(f"{len(top)} matching")
    assert decision.outcome == "block"


def test_fixable_only_and_grace_period(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    fixable = [f for f in findings if f.fix_available and f.fix_published is not None]
    newest_fix = max(f.fix_published for f in fixable if f.fix_published is not None)
    gate = policy_of(_gate(severity="low", fixable_only=True, grace_days=7))
    image = subject(catalog=catalog, findings=tuple(fixable))

    # Three days after the newest fix appeared, that fix is still in its grace period.
    during = evaluate(gate, image, now=newest_fix + timedelta(days=3))
    still_graced = [
        f for f in fixable if f.fix_published and f.fix_published > newest_fix - timedelta(days=4)
    ]
    assert during.rule_results[0].actual.startswith(f"{len(fixable) - len(still_graced)} matching")

    after = evaluate(gate, image, now=newest_fix + timedelta(days=7))
    assert after.rule_results[0].actual.startswith(f"{len(fixable)} matching")


def test_unfixable_findings_do_not_count_when_fixable_only(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    unfixable = tuple(f.model_copy(update={"fix_available": False}) for f in findings)
    decision = evaluate(
        policy_of(_gate(severity="low", fixable_only=True)),
        subject(catalog=catalog, findings=unfixable),
        now=NOW,
    )
    assert decision.outcome == "pass"


def test_vex_suppressed_findings_do_not_count(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    vex = VexState(
        status="not_affected",
        justification="vulnerable_code_not_in_execute_path",
        source="vex-1",
    )
    suppressed = tuple(f.model_copy(update={"vex": vex}) for f in findings)
    decision = evaluate(
        policy_of(_gate(severity="low")), subject(catalog=catalog, findings=suppressed), now=NOW
    )
    assert decision.outcome == "pass"
    assert len(decision.vex_suppressed) == len(findings) > 0
    assert {s.source for s in decision.vex_suppressed} == {"vex-1"}


def test_gate_is_skipped_not_passed_for_unscanned_images() -> None:
    decision = evaluate(
        policy_of(_gate(severity="low")), subject(scan=ScanState.UNSCANNED), now=NOW
    )
    result = decision.rule_results[0]
    assert result.skipped and not result.fired
    assert "unscanned" in result.message


def test_allowlist_by_id_and_package_with_expiry(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    target = next(f for f in findings if f.severity.at_least(Severity.HIGH))
    others = [f for f in findings if f.severity.at_least(Severity.HIGH) and f.key != target.key]
    entry = {
        "vulnerability": target.id,
        "package": target.package.name,
        "repository": "shop/*",
        "expires": str(NOW.date()),
        "reason": "not reachable from our code",
        "author": "security@example.com",
    }
    policy = policy_of(_gate(severity="high", max_count=len(others)), allowlist=[entry])
    image = subject(catalog=catalog, findings=findings)

    on_last_day = evaluate(policy, image, now=NOW)
    assert on_last_day.outcome == "pass"
    accepted = [a for a in on_last_day.allowlisted if a.package == target.package.purl]
    assert [(a.vulnerability, a.author, a.expires) for a in accepted] == [
        (target.id, "security@example.com", date.fromisoformat(entry["expires"]))
    ]
    assert not on_last_day.expired_allowlist

    day_after = evaluate(policy, image, now=NOW + timedelta(days=1))
    assert day_after.outcome == "block"
    assert not day_after.allowlisted
    assert [e.vulnerability for e in day_after.expired_allowlist] == [target.id]


def test_allowlist_matches_aliases_purls_and_repository_globs(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    target = next(f for f in findings if f.aliases)
    purl_without_version = (target.package.purl or "").split("@")[0]
    entry = {
        "vulnerability": target.aliases[0],
        "package": purl_without_version,
        "reason": "r",
        "author": "a",
    }
    policy = policy_of(
        _gate(severity="unknown", max_count=1000), allowlist=[{**entry, "repository": "shop/*"}]
    )
    allowed = evaluate(policy, subject(catalog=catalog, findings=findings), now=NOW)
    assert {a.vulnerability for a in allowed.allowlisted} == {target.id}

    other_repo = evaluate(policy, subject(repository="payments/api", findings=findings), now=NOW)
    assert not other_repo.allowlisted

    other_package = policy_of(
        _gate(severity="low"), allowlist=[{**entry, "package": "pkg:npm/not-there"}]
    )
    assert not evaluate(other_package, subject(findings=findings), now=NOW).allowlisted


def test_not_evaluated_packages_warn_or_block_by_type(npm_scan: Scan) -> None:
    catalog, findings = npm_scan
    gaps = tuple(
        NotEvaluated(package=PackageRef(name=n, version="1", type=t), reason="no data")
        for n, t in (("zlib1g", "deb"), ("left-pad", "php"))
    )
    rule = {"id": "audited", "type": "not_evaluated", "action": "warn"}
    image = subject(catalog=catalog, findings=findings, not_evaluated=gaps)
    warned = evaluate(policy_of(rule), image, now=NOW)
    assert warned.outcome == "warn"
    assert warned.rule_results[0].actual.startswith("2 not evaluated: zlib1g 1 (no data)")
    only_deb = {**rule, "package_types": ["deb"], "max_count": 1}
    assert evaluate(policy_of(only_deb), image, now=NOW).outcome == "pass"
    clean = evaluate(policy_of(rule), subject(catalog=catalog, findings=findings), now=NOW)
    assert clean.outcome == "pass"
    assert clean.rule_results[0].message == "every package was evaluated"
    unscanned = evaluate(policy_of(rule), subject(scan=ScanState.FAILED), now=NOW)
    assert unscanned.rule_results[0].skipped
