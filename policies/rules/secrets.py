"""Secrets baked into an image: in its ENV or in the commands of its build history.

Reports *where* a secret sits (``ENV DB_PASSWORD``, ``history step 4``) and what kind
it looks like, never the value: decisions are stored and shown to many people.
"""

from __future__ import annotations

import re

from policies.decision import RuleResult
from policies.model import SecretsRule
from policies.rules.base import RuleContext, listing, outcome
from service.image.model import ImageConfig

_SECRET_NAME = re.compile(
    r"PASSW(?:OR)?D|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIAL", re.IGNORECASE
)
# Names that point at a secret rather than hold one (POSTGRES_PASSWORD_FILE=/run/secrets/db).
_REFERENCE_SUFFIX = re.compile(r"_(?:FILE|PATH|DIR)$", re.IGNORECASE)
_SECRET_VALUES = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "private key": re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
_ASSIGNMENT = re.compile(r"""(?:^|[\s;&|'"])([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|\S*)""")
_SECRET_FLAG = re.compile(r"--(?:password|passwd|token|api-key|secret)[= ]+([^\s-]\S*)", re.I)


def check_secrets(rule: SecretsRule, context: RuleContext) -> RuleResult:
    places = find_secrets(context.subject.config)
    return outcome(
        rule,
        fired=bool(places),
        expected="no secrets in ENV or build history",
        actual=f"{len(places)} suspected secret(s)" + (f": {listing(places)}" if places else ""),
        message=(
            "rotate these credentials and pass secrets at run time (mounted files, build "
            "secrets) instead of baking them into the image"
            if places
            else "none found"
        ),
    )


def find_secrets(config: ImageConfig) -> list[str]:
    """Where secrets appear (``ENV: …`` / ``history step N: …``) and their kind, never values."""
    places: list[str] = []
    for variable in config.env:
        name, _, value = variable.partition("=")
        places.extend(f"ENV: {kind}" for kind in _kinds(name, value))
    for step, entry in enumerate(config.history, start=1):
        places.extend(f"history step {step}: {kind}" for kind in _command_kinds(entry.created_by))
    return places


def _command_kinds(command: str) -> list[str]:
    kinds = {
        kind
        for match in _ASSIGNMENT.finditer(command)
        for kind in _kinds(match.group(1), match.group(2).strip("'\""))
    }
    if _SECRET_FLAG.search(command):
        kinds.add("secret passed as a command-line flag")
    kinds.update(kind for kind, pattern in _SECRET_VALUES.items() if pattern.search(command))
    return sorted(kinds)


def _kinds(name: str, value: str) -> list[str]:
    kinds = [kind for kind, pattern in _SECRET_VALUES.items() if pattern.search(value)]
    literal = value and not value.startswith("$")
    if literal and _SECRET_NAME.search(name) and not _REFERENCE_SUFFIX.search(name):
        kinds.append(f"{name} has a literal value")
    return kinds
