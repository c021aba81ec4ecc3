"""The policy document schema: bundles of policies, their rules, allowlists and mappings.

Strict pydantic models (``extra="forbid"``): a YAML key the schema does not know is
refused, and :mod:`policies.loader` reports the line it sits on. Rules are a union
discriminated by ``type``; every rule has an ``id`` (unique within its policy) and an
``action`` (``block`` or ``warn``) taken when it fires.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    ByteSize,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from policies.versions import parse_range
from service.layers.model import SecretKind
from service.model_base import FrozenModel
from service.vulndb.model import Severity


class Action(StrEnum):
    """What a fired rule does to the decision (Anchore's STOP / WARN)."""

    BLOCK = "block"
    WARN = "warn"


class ScanState(StrEnum):
    SCANNED = "scanned"
    FAILED = "failed"
    UNSCANNED = "unscanned"


class _Rule(FrozenModel):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    action: Action
    description: str = ""


class SeverityGateRule(_Rule):
    """At most ``max_count`` findings at or above ``severity`` (and ``min_cvss``).

    ``fixable_only`` counts only findings with a fix; ``grace_days`` lets a fixable
    finding through until that many days after its fix was published (a fixable
    finding whose publication date is unknown counts at once).
    """

    type: Literal["severity_gate"]
    severity: Severity | None = None
    min_cvss: float | None = Field(default=None, ge=0.0, le=10.0)
    max_count: int = Field(default=0, ge=0)
    fixable_only: bool = False
    grace_days: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _needs_threshold(self) -> SeverityGateRule:
        if self.severity is None and self.min_cvss is None:
            raise ValueError("a severity_gate needs `severity`, `min_cvss` or both")
        return self


class KnownExploitedRule(_Rule):
    """At most ``max_count`` findings CISA lists as exploited in the wild (KEV);
    ``fixable_only`` counts only those with a fix."""

    type: Literal["known_exploited"]
    max_count: int = Field(default=0, ge=0)
    fixable_only: bool = False


class EpssRule(_Rule):
    """At most ``max_count`` findings whose EPSS exploitation probability is at least
    ``min_score`` or whose percentile is at least ``min_percentile`` (either counts);
    ``fixable_only`` counts only those with a fix."""

    type: Literal["epss"]
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)
    min_percentile: float | None = Field(default=None, ge=0.0, le=1.0)
    max_count: int = Field(default=0, ge=0)
    fixable_only: bool = False

    @model_validator(mode="after")
    def _needs_threshold(self) -> EpssRule:
        if self.min_score is None and self.min_percentile is None:
            raise ValueError("an epss rule needs `min_score`, `min_percentile` or both")
        return self


class NotEvaluatedRule(_Rule):
    """At most ``max_count`` packages that no advisory data could audit (a version the
    ecosystem's rules cannot order, an ecosystem without advisories, an unknown distro
    release); ``package_types`` (``deb``, ``python``…) limits the count to those types."""

    type: Literal["not_evaluated"]
    max_count: int = Field(default=0, ge=0)
    package_types: tuple[str, ...] = ()


class DeniedPackage(FrozenModel):
    """A purl without version (``*`` globs allowed) and an optional version range:
    ``vers:npm/<4.17.21`` or an ecosystem-native range such as ``<4.17.21``."""

    purl: str = Field(pattern=r"^pkg:[^@]+$")
    versions: str | None = None
    reason: str = ""

    @field_validator("purl")
    @classmethod
    def _lowercase_type(cls, value: str) -> str:
        kind, _, rest = value.removeprefix("pkg:").partition("/")
        if not rest:
            raise ValueError("purl needs a type and a name, e.g. pkg:npm/lodash")
        return f"pkg:{kind.lower()}/{rest}"

    @field_validator("versions")
    @classmethod
    def _range_parses(cls, value: str | None, info: ValidationInfo) -> str | None:
        purl = info.data.get("purl")
        if value is not None and purl is not None:
            parse_range(value, purl)
        return value


class DeniedPackagesRule(_Rule):
    type: Literal["denied_packages"]
    packages: tuple[DeniedPackage, ...] = Field(min_length=1)


class DeniedLicensesRule(_Rule):
    """Fires for a package whose licences cannot be satisfied without a denied one
    (``MIT OR GPL-3.0-only`` passes when GPL is denied; ``MIT AND GPL-3.0-only`` does not).
    Entries are SPDX ids, compared case-insensitively; ``*`` globs allowed (``GPL-*``)."""

    type: Literal["denied_licenses"]
    licenses: tuple[str, ...] = Field(min_length=1)


class RequiredSignatureRule(_Rule):
    """The image must carry a verified signature by one of ``keys`` (ids or fingerprints)."""

    type: Literal["required_signature"]
    keys: tuple[str, ...] = Field(min_length=1)


class RequiredAttestationsRule(_Rule):
    """Every predicate type listed must be present among the verified attestations."""

    type: Literal["required_attestations"]
    predicate_types: tuple[str, ...] = Field(min_length=1)


class RootUserRule(_Rule):
    type: Literal["root_user"]


class HealthcheckRule(_Rule):
    type: Literal["healthcheck"]


class ReferenceRule(_Rule):
    """How the image was referenced: not by ``latest``, and (optionally) by digest."""

    type: Literal["image_reference"]
    forbid_latest: bool = True
    require_digest: bool = True


class SecretsRule(_Rule):
    """Secret-looking ENV variables and history commands (values are never reported)."""

    type: Literal["secrets"]


class EfficiencyRule(_Rule):
    """The image's layers waste at most ``max_wasted_bytes`` (bytes or with a unit) and
    score at least ``min_score``, as ``dive`` reports them: a file a later layer overwrites
    or deletes, or writes again, counts with every copy."""

    type: Literal["efficiency"]
    max_wasted_bytes: ByteSize | None = None
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _needs_threshold(self) -> EfficiencyRule:
        if self.max_wasted_bytes is None and self.min_score is None:
            raise ValueError("an efficiency rule needs `max_wasted_bytes`, `min_score` or both")
        return self


class SecretFilesRule(_Rule):
    """No layer ships a credential file (private keys, cloud and registry credentials,
    ``.env``, ``.npmrc`` tokens, ``.pypirc`` passwords, ``.git-credentials``), even one a
    later layer deletes; ``kinds`` limits the rule to those kinds."""

    type: Literal["secret_files"]
    kinds: tuple[SecretKind, ...] = ()


class BaseImageRule(_Rule):
    """The ``org.opencontainers.image.base.name`` label must match one of ``allowed`` (globs)."""

    type: Literal["base_image"]
    allowed: tuple[str, ...] = Field(min_length=1)


class MaxAgeRule(_Rule):
    type: Literal["max_age"]
    days: int = Field(gt=0)


class MaxSizeRule(_Rule):
    """``max_size`` in bytes or with a unit: ``500MB``, ``1GiB``."""

    type: Literal["max_size"]
    max_size: ByteSize


class ScanStatusRule(_Rule):
    """Fires when the image's scan state is one of ``when`` (unscanned and failed by default)."""

    type: Literal["scan_status"]
    when: tuple[Literal[ScanState.UNSCANNED, ScanState.FAILED], ...] = (
        ScanState.UNSCANNED,
        ScanState.FAILED,
    )


Rule = Annotated[
    SeverityGateRule
    | NotEvaluatedRule
    | KnownExploitedRule
    | EpssRule
    | DeniedPackagesRule
    | DeniedLicensesRule
    | RequiredSignatureRule
    | RequiredAttestationsRule
    | RootUserRule
    | HealthcheckRule
    | ReferenceRule
    | SecretsRule
    | SecretFilesRule
    | EfficiencyRule
    | BaseImageRule
    | MaxAgeRule
    | MaxSizeRule
    | ScanStatusRule,
    Field(discriminator="type"),
]


class AllowlistEntry(FrozenModel):
    """An accepted vulnerability. ``package`` is a name or purl (any package when absent);
    ``repository`` a glob; the entry stops applying after ``expires`` (inclusive)."""

    vulnerability: str = Field(min_length=1)
    package: str | None = None
    repository: str = "*"
    expires: date | None = None
    reason: str = Field(min_length=1)
    author: str = Field(min_length=1)


class Policy(FrozenModel):
    name: str = Field(min_length=1)
    description: str = ""
    rules: tuple[Rule, ...] = Field(min_length=1)
    allowlist: tuple[AllowlistEntry, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules


class Mapping(FrozenModel):
    """Chooses ``policy`` for images whose registry, repository and tag match the globs."""

    registry: str = "*"
    repository: str = "*"
    tag: str = "*"
    policy: str


class Bundle(FrozenModel):
    """What ``tollgate policy apply`` stores: policies, mappings (first match wins) and
    the default policy. ``version`` is assigned by the store on apply."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int | None = None
    description: str = ""
    policies: tuple[Policy, ...] = Field(min_length=1)
    mappings: tuple[Mapping, ...] = ()
    default: str

    @model_validator(mode="after")
    def _references_resolve(self) -> Bundle:
        names = [policy.name for policy in self.policies]
        if len(set(names)) != len(names):
            raise ValueError("policy names must be unique within a bundle")
        for target in [self.default, *(m.policy for m in self.mappings)]:
            if target not in names:
                raise ValueError(f"policy {target!r} is not defined in this bundle ({names})")
        return self

    def policy(self, name: str) -> Policy:
        return next(policy for policy in self.policies if policy.name == name)
