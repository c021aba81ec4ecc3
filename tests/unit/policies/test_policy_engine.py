"""Policy selection by mappings, outcome aggregation and the auditable decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from policies.decision import Decision
from policies.engine import evaluate, evaluate_bundle, select_policy
from policies.loader import parse_bundle
from policies.model import ScanState
from service.errors import PolicyError
from tests.unit.policies.policy_helpers import NOW, subject

BUNDLE = parse_bundle(
    """\
name: org
default: base
policies:
  - name: base
    rules:
      - {id: scanned, type: scan_status, action: block}
      - {id: root, type: root_user, action: warn}
  - name: prod
    rules:
      - {id: signed, type: required_signature, action: block, keys: [release]}
  - name: legacy
    rules:
      - {id: root, type: root_user, action: warn}
mappings:
  - {registry: "127.0.0.1:*", repository: "prod/legacy-*", policy: legacy}
  - {repository: "prod/*", policy: prod}
  - {repository: "*", tag: "release-*", policy: prod}
""",
    source="org.yaml",
)


@pytest.mark.parametrize(
    ("registry", "repository", "tag", "expected"),
    [
        ("127.0.0.1:5000", "prod/legacy-billing", "1", "legacy"),  # first match wins
        ("registry.example.com", "prod/legacy-billing", "1", "prod"),  # registry glob differs
        ("127.0.0.1:5000", "prod/web", "1", "prod"),
        ("127.0.0.1:5000", "dev/web", "release-7", "prod"),
        ("127.0.0.1:5000", "dev/web", None, "base"),  # default
    ],
)
def test_mappings_choose_the_policy(
    registry: str, repository: str, tag: str | None, expected: str
) -> None:
    image = subject(registry=registry, repository=repository, tag=tag)
    assert select_policy(BUNDLE, image).name == expected


def test_outcome_is_block_over_warn_over_pass() -> None:
    base = BUNDLE.policy("base")
    assert evaluate(base, subject(scan=ScanState.UNSCANNED), now=NOW).outcome == "block"
    assert evaluate(base, subject(), now=NOW).outcome == "warn"  # root user only
    legacy_ok = subject(config=replace(subject().config, user="app"))
    assert evaluate(base, legacy_ok, now=NOW).outcome == "pass"


def test_decision_records_everything_an_auditor_needs() -> None:
    stored = BUNDLE.model_copy(update={"version": 3})
    decision = evaluate_bundle(stored, subject(repository="prod/web"), now=NOW)
    assert (decision.bundle, decision.bundle_version, decision.policy) == ("org", 3, "prod")
    assert decision.evaluated_at == NOW and decision.digest == subject().digest
    (result,) = decision.rule_results
    assert result.rule_id == "signed" and result.type == "required_signature" and result.fired
    assert "release" in result.expected and result.actual == "no verified signature"
    assert Decision.model_validate_json(decision.model_dump_json()) == decision


def test_naive_evaluation_time_is_refused() -> None:
    with pytest.raises(PolicyError, match="timezone-aware"):
        evaluate(BUNDLE.policy("base"), subject(), now=datetime(2025, 1, 1))


def test_failed_scan_can_be_allowed_while_unscanned_blocks() -> None:
    bundle = parse_bundle(
        """\
name: s
default: p
policies:
  - name: p
    rules:
      - {id: unscanned, type: scan_status, action: block, when: [unscanned]}
      - {id: failed, type: scan_status, action: warn, when: [failed]}
""",
        source="s.yaml",
    )
    assert evaluate_bundle(bundle, subject(scan=ScanState.FAILED), now=NOW).outcome == "warn"
    assert evaluate_bundle(bundle, subject(scan=ScanState.UNSCANNED), now=NOW).outcome == "block"
    assert evaluate_bundle(bundle, subject(), now=NOW).outcome == "pass"
