"""The ``efficiency`` and ``secret_files`` rules on layer analyses: thresholds, kinds, a
secret deleted by a later layer, and images whose layers were never analysed."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from policies.engine import evaluate
from policies.subject import EvaluationInput
from service.layers.model import Efficiency, LayerAnalysis, SecretFile, SecretKind
from tests.unit.policies.policy_helpers import NOW, policy_of, subject

LAYER = "sha256:" + "cd" * 32


def analysed(
    *, wasted: int = 0, score: float = 1.0, secrets: tuple[SecretFile, ...] = ()
) -> EvaluationInput:
    efficiency = Efficiency(
        score=score, wasted_bytes=wasted, size=10_000, user_size=5_000, wasted_user_percent=None
    )
    return subject(layers=LayerAnalysis(layers=(), efficiency=efficiency, secret_files=secrets))


def result(rule: dict[str, Any], image: EvaluationInput) -> Any:
    return evaluate(policy_of({"id": "r", "action": "block", **rule}), image, now=NOW).rule_results[
        0
    ]


@pytest.mark.parametrize(
    ("rule", "wasted", "score", "fired"),
    [
        ({"max_wasted_bytes": "1MB"}, 1_000_000, 0.5, False),
        ({"max_wasted_bytes": "1MB"}, 1_000_001, 1.0, True),
        ({"min_score": 0.9}, 0, 0.9, False),
        ({"min_score": 0.9}, 0, 0.89, True),
        ({"min_score": 0.9, "max_wasted_bytes": 10}, 11, 0.95, True),
    ],
)
def test_efficiency_thresholds(
    rule: dict[str, Any], wasted: int, score: float, fired: bool
) -> None:
    outcome = result({"type": "efficiency", **rule}, analysed(wasted=wasted, score=score))
    assert outcome.fired is fired


def test_an_efficiency_rule_needs_a_threshold() -> None:
    with pytest.raises(ValidationError, match="max_wasted_bytes"):
        policy_of({"id": "r", "action": "warn", "type": "efficiency"})


def test_a_key_deleted_by_a_later_layer_still_fires_without_its_content() -> None:
    key = SecretFile(
        path="root/.ssh/id_rsa",
        layer=LAYER,
        layer_index=2,
        kind=SecretKind.PRIVATE_KEY,
        visible=False,
    )
    outcome = result({"type": "secret_files"}, analysed(secrets=(key,)))
    assert outcome.fired
    assert (
        "/root/.ssh/id_rsa (private_key, layer 2, deleted later but still shipped)"
        in outcome.actual
    )


def test_secret_files_limited_to_kinds() -> None:
    env = SecretFile(
        path="app/.env", layer=LAYER, layer_index=1, kind=SecretKind.DOTENV, visible=True
    )
    rule = {"type": "secret_files", "kinds": ["private_key", "npm_token"]}
    assert not result(rule, analysed(secrets=(env,))).fired
    assert result({"type": "secret_files"}, analysed(secrets=(env,))).fired


@pytest.mark.parametrize(
    "rule", [{"type": "secret_files"}, {"type": "efficiency", "min_score": 0.5}]
)
def test_layer_rules_skip_images_whose_layers_were_not_analysed(rule: dict[str, Any]) -> None:
    outcome = result(rule, subject())
    assert outcome.skipped and not outcome.fired
    assert "scan it again" in outcome.message
