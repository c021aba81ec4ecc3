"""Rules on the image's layers: how much they waste, and credentials left in any of them.

Secret files are reported by path, layer and kind, never by content. A credential a
later layer deletes still fires: every puller downloads the layer that holds it.
"""

from __future__ import annotations

from policies.decision import RuleResult
from policies.model import EfficiencyRule, SecretFilesRule
from policies.rules.base import RuleContext, listing, outcome, skipped
from service.layers.model import SecretFile

_NOT_ANALYSED = "the image's layers were not analysed: scan it again"


def check_secret_files(rule: SecretFilesRule, context: RuleContext) -> RuleResult:
    kinds = ", ".join(rule.kinds) if rule.kinds else "credential"
    expected = f"no {kinds} files in any layer"
    layers = context.subject.layers
    if layers is None:
        return skipped(rule, expected=expected, reason=_NOT_ANALYSED)
    found = [f for f in layers.secret_files if not rule.kinds or f.kind in rule.kinds]
    return outcome(
        rule,
        fired=bool(found),
        expected=expected,
        actual=f"{len(found)} credential file(s)"
        + (f": {listing([_place(f) for f in found])}" if found else ""),
        message=(
            "rotate these credentials and rebuild without them (build secrets or a "
            "multi-stage build): deleting them in a later layer still ships them"
            if found
            else "none found"
        ),
    )


def _place(secret: SecretFile) -> str:
    deleted = "" if secret.visible else ", deleted later but still shipped"
    return f"/{secret.path} ({secret.kind}, layer {secret.layer_index}{deleted})"


def check_efficiency(rule: EfficiencyRule, context: RuleContext) -> RuleResult:
    wanted = [
        *(
            [f"at most {rule.max_wasted_bytes.human_readable()} wasted"]
            if rule.max_wasted_bytes is not None
            else []
        ),
        *(
            [f"efficiency score at least {rule.min_score:.2f}"]
            if rule.min_score is not None
            else []
        ),
    ]
    expected = " and ".join(wanted)
    layers = context.subject.layers
    if layers is None:
        return skipped(rule, expected=expected, reason=_NOT_ANALYSED)
    efficiency = layers.efficiency
    problems = []
    if rule.max_wasted_bytes is not None and efficiency.wasted_bytes > rule.max_wasted_bytes:
        problems.append(f"{efficiency.wasted_bytes} bytes wasted")
    if rule.min_score is not None and efficiency.score < rule.min_score:
        problems.append(f"score {efficiency.score:.4f}")
    largest = [f"{i.path} ({i.cumulative_size} bytes)" for i in efficiency.inefficiencies]
    return outcome(
        rule,
        fired=bool(problems),
        expected=expected,
        actual=f"{efficiency.wasted_bytes} bytes wasted, score {efficiency.score:.4f}",
        message=(
            f"{'; '.join(problems)}: delete files in the layer that creates them, or build "
            f"in a multi-stage build (largest: {listing(largest, 3)})"
            if problems
            else "efficient enough"
        ),
    )
