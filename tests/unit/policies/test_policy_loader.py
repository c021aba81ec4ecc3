from __future__ import annotations

from pathlib import Path

import pytest

from policies.loader import load_bundle, parse_bundle
from policies.model import SeverityGateRule
from service.errors import PolicyError

BUNDLES = Path(__file__).parents[3] / "policies" / "bundles"

VALID = """\
name: demo
default: base
policies:
  - name: base
    rules:
      - id: crit
        type: severity_gate
        action: block
        severity: critical
"""


@pytest.mark.parametrize("path", sorted(BUNDLES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_bundles_load(path: Path) -> None:
    bundle = load_bundle(path)
    assert bundle.name == path.stem
    assert bundle.policy(bundle.default).rules


def test_valid_bundle_parses_into_typed_rules() -> None:
    bundle = parse_bundle(VALID, source="demo.yaml")
    rule = bundle.policies[0].rules[0]
    assert isinstance(rule, SeverityGateRule)
    assert rule.max_count == 0


def _error_lines(text: str) -> str:
    with pytest.raises(PolicyError) as caught:
        parse_bundle(text, source="p.yaml")
    return str(caught.value)


def _line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_unknown_key_in_a_rule_is_refused_with_its_line() -> None:
    text = VALID + "        grace_dayz: 7\n"
    message = _error_lines(text)
    assert f"p.yaml:{_line_of(text, 'grace_dayz')}: policies[0].rules[0].grace_dayz" in message
    assert "Extra inputs are not permitted" in message


def test_unknown_top_level_key_is_refused_with_its_line() -> None:
    text = "colour: blue\n" + VALID
    assert "p.yaml:1: colour:" in _error_lines(text)


def test_duplicate_key_is_refused_with_its_line() -> None:
    text = VALID + "        severity: high\n"
    message = _error_lines(text)
    assert f"p.yaml:{_line_of(text, 'severity: high')}: duplicate key 'severity'" in message


def test_missing_field_names_the_item_that_lacks_it() -> None:
    text = VALID.replace("        severity: critical\n", "")
    message = _error_lines(text)
    assert "severity_gate needs `severity`, `min_cvss` or both" in message
    assert f"p.yaml:{_line_of(text, '- id: crit')}:" in message


def test_unknown_rule_type_is_refused() -> None:
    text = VALID.replace("type: severity_gate", "type: severity_gates")
    assert "severity_gates" in _error_lines(text)


def test_bad_version_range_and_bad_date_are_reported_together() -> None:
    text = """\
name: demo
default: base
policies:
  - name: base
    rules:
      - id: pk
        type: denied_packages
        action: warn
        packages:
          - purl: pkg:npm/lodash
            versions: "<<<"
    allowlist:
      - vulnerability: CVE-2021-23337
        reason: accepted
        author: sec
        expires: 2024-13-01
"""
    message = _error_lines(text)
    assert (
        f"p.yaml:{_line_of(text, 'versions:')}: policies[0].rules[0].packages[0].versions"
        in message
    )
    assert "cannot parse version range '<<<'" in message
    assert f"p.yaml:{_line_of(text, 'expires:')}: policies[0].allowlist[0].expires" in message
    assert "Tuple should have at least 1 item" not in message  # no echo of item errors


def test_mapping_to_an_undefined_policy_is_refused() -> None:
    text = VALID + "mappings:\n  - repository: 'prod/*'\n    policy: nope\n"
    assert "policy 'nope' is not defined" in _error_lines(text)


def test_native_range_needs_a_known_ecosystem() -> None:
    text = VALID.replace(
        "        severity: critical\n",
        "        severity: critical\n"
        "      - id: pk\n        type: denied_packages\n        action: warn\n"
        "        packages:\n          - purl: 'pkg:*/left-pad'\n            versions: '<1.0'\n",
    )
    assert "write a vers: range" in _error_lines(text)


def test_invalid_yaml_names_the_line() -> None:
    text = VALID + "      - id: [unclosed\n"
    assert f"p.yaml:{_line_of(text, '[unclosed') + 1}: not valid YAML" in _error_lines(text)


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    assert "empty" in _error_lines("")
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_bundle(tmp_path / "missing.yaml")
