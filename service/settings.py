"""Typed settings, read from ``TOLLGATE_*`` environment variables.

Read through :func:`get_settings`, never at import time. Every field is listed
in the README's configuration table. ``Settings(**values)`` holds the defaults and
``values`` only; :meth:`Settings.from_env` reads ``TOLLGATE_<FIELD>`` variables and
converts each by its field's annotation (lists, mappings and identities as JSON).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from functools import lru_cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import platformdirs

from service.errors import ConfigurationError
from service.secret import Secret

ENV_PREFIX = "TOLLGATE_"
MIN_EXPOSED_SECRET_LENGTH = 32  # a webhook secret on a port reachable beyond loopback


def _data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tollgate"))


@dataclass(frozen=True, kw_only=True)
class KeylessIdentity:
    """A keyless signer to recognise: the certificate identity and its OIDC issuer."""

    identity: str  # e.g. https://github.com/org/repo/.github/...@refs/...
    issuer: str  # e.g. https://token.actions.githubusercontent.com

    def __post_init__(self) -> None:
        if not (self.identity and self.issuer):
            raise ConfigurationError(
                "a keyless identity needs a non-empty identity and issuer",
                hint="set both in every TOLLGATE_KEYLESS_IDENTITIES entry",
            )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Tollgate's configuration; defaults suit the embedded single-user mode."""

    environment: Literal["development", "production"] = "development"
    data_dir: Path = field(default_factory=_data_dir)
    cache_dir: Path | None = None
    database_url: str | None = None
    broker_url: str | None = None
    webhook_secret: Secret | None = None

    # Registry access
    insecure_registries: list[str] = field(default_factory=list)
    # host[:port] globs remote requests may pull from (any public one when unset); a listed
    # entry also allows that host's non-public addresses (see service/registry/outbound.py)
    allowed_registries: list[str] | None = None
    registry_auth: Secret | None = None  # JSON: {"host": {"username":..,"password":..}}
    docker_config: Path | None = None  # defaults to ~/.docker/config.json
    registry_timeout: float = 30.0
    registry_retries: int = 4
    registry_circuit_seconds: float = 30.0  # a registry that failed is not contacted this long
    platform: str = "linux/amd64"

    # Engines
    engine: Literal["syft", "trivy"] = "syft"
    syft_path: str | None = None
    trivy_path: str | None = None
    engine_timeout: float = 600.0
    engine_max_disk_gb: float = 20.0  # layers an engine may unpack before it is stopped
    syft_layer_evidence: bool = True  # Syft reads each layer's cached evidence, not the layers

    # Vulnerability database
    db_max_age_hours: float = 48.0

    # Scan service (API, workers, notifications)
    notify_urls: list[str] = field(default_factory=list)  # scan/policy/new-vuln events
    notify_secret: Secret | None = None  # HMAC-SHA256 key for X-Tollgate-Signature
    scan_lease_seconds: float = 60.0  # a running scan without heartbeat for this long is retaken
    scan_soft_time_limit: float = 900.0
    scan_time_limit: float = 960.0
    embedded_workers: int = 2  # thread pool size when no broker is configured
    recovery_interval_seconds: float = 60.0  # re-dispatch of stranded scans
    db_update_interval_hours: float = 6.0
    broker_visibility_timeout: float = 3600.0
    scan_retries: int = 5  # attempts after transient errors (registry down, timeouts)
    scan_retry_backoff: float = 2.0  # seconds, doubled per attempt (capped at 60)

    # API request limits (service/api/limits.py)
    api_max_body_bytes: int = 1 << 20  # request bodies; 413 beyond
    admission_max_body_bytes: int = 3 << 20  # AdmissionReviews (the API server sends <= 3 MiB)

    # Kubernetes admission (``/api/v1/admission``)
    admission_mode: Literal["enforce", "warn"] = "enforce"  # warn: never deny, only warn
    admission_unknown_image: Literal["block", "allow-and-queue", "scan"] = "block"
    admission_exempt_namespaces: list[str] = field(default_factory=lambda: ["kube-system"])
    admission_bundle: str = "default"  # the policy bundle admission decides with
    admission_tag_ttl_seconds: float = 30.0  # how long a tag -> digest resolution is reused
    admission_scan_budget_seconds: float = 7.0  # keep below the webhook timeoutSeconds (10)
    admission_fail_open: bool = False  # admit when Tollgate cannot decide (default: deny)
    scan_rate_per_minute: float = 120.0  # new scans one caller may queue (API token, webhook)
    scan_rate_burst: int = 60  # ... at once, before the rate applies
    scan_queue_limit: int = 1000  # unfinished scans the push queue holds; 429 beyond
    admission_max_images: int = 100  # distinct images per review; a workload with more is denied
    admission_log_days: int = 90  # how long the admission log keeps an event

    # Signing (the service's own cosign key, encrypted at rest; see service/signing/keyring.py)
    signing_key: Path | None = None  # an encrypted cosign.key
    signing_key_password: Secret | None = None  # its password ("" is a valid empty one)

    # Scan service: the end of every scan (policy decision, then the service's signature)
    policy_bundle: str = "default"  # the stored bundle every scan is decided with
    sign_repositories: list[str] = field(default_factory=list)  # globs; empty: sign nothing

    # Signature verification of every scanned registry image (service/signing/checker.py)
    verify_keys: dict[str, Path] = field(default_factory=dict)  # name -> cosign public key PEM
    keyless_identities: list[KeylessIdentity] = field(default_factory=list)
    trusted_root: Path | None = None  # Sigstore trusted_root.json; needed by keyless identities

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The ``TOLLGATE_<FIELD>`` variables of ``environ`` (default: ``os.environ``; names
        are case-insensitive, unknown ones ignored), then ``overrides``."""
        environ = os.environ if environ is None else environ
        given = {name.lower(): value for name, value in environ.items()}
        kinds = get_type_hints(cls)
        values: dict[str, Any] = {}
        for spec in fields(cls):
            variable = ENV_PREFIX + spec.name.upper()
            raw = given.get(variable.lower())
            if raw is not None:
                values[spec.name] = _parse(variable, kinds[spec.name], raw)
        return cls(**{**values, **overrides})

    def __post_init__(self) -> None:
        self._refuse_unsafe_production()
        self._refuse_incomplete_verification()

    def _refuse_unsafe_production(self) -> None:
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if self.environment == "production" and len(secret) < 16:
            raise ConfigurationError(
                "TOLLGATE_WEBHOOK_SECRET must be set (16+ characters) in production"
            )

    def _refuse_incomplete_verification(self) -> None:
        for name in self.verify_keys:
            if not re.fullmatch(r"[\w.-]+", name):
                raise ConfigurationError(
                    f"TOLLGATE_VERIFY_KEYS names a key {name!r}",
                    hint="name each key with letters, digits, '.', '-' or '_' (e.g. ci): "
                    "policies list these names under required_signature keys",
                )
        if self.keyless_identities and self.trusted_root is None:
            raise ConfigurationError(
                "TOLLGATE_KEYLESS_IDENTITIES is set but TOLLGATE_TRUSTED_ROOT is not",
                hint="set TOLLGATE_TRUSTED_ROOT to the Sigstore trusted_root.json "
                "the keyless certificates chain to",
            )

    def refuse_weak_secrets_on(self, host: str) -> None:
        """Listening on ``host`` beyond loopback, the webhook secret (when set) must be
        32+ characters: anyone who can reach the port may guess at it."""
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        if secret is None or len(secret) >= MIN_EXPOSED_SECRET_LENGTH or _is_loopback(host):
            return
        raise ConfigurationError(
            f"TOLLGATE_WEBHOOK_SECRET has {len(secret)} characters; serving on {host} needs "
            f"{MIN_EXPOSED_SECRET_LENGTH} or more",
            hint="generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
        )

    @property
    def blob_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tollgate.db'}"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve beyond loopback


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cleared in tests with ``get_settings.cache_clear()``)."""
    return Settings.from_env()


class _Invalid(Exception):
    """A variable's value does not fit its field: what was expected, and a hint."""

    def __init__(self, expected: str, hint: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.hint = hint


_BOOLEANS = {
    **dict.fromkeys(("1", "true", "yes", "on", "t", "y"), True),
    **dict.fromkeys(("0", "false", "no", "off", "f", "n"), False),
}


def _boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError(raw) from None


_SCALARS: dict[object, Callable[[str], object]] = {
    str: str,
    Path: Path,
    Secret: Secret,
    int: int,
    float: float,
    bool: _boolean,
}
# What a bad value of a scalar that can fail "is not", and what it may be instead.
_EXPECTED = {
    int: ("an integer", "use a whole number, e.g. 3"),
    float: ("a number", "use a number, e.g. 2.5"),
    bool: ("a boolean", "use true/false, 1/0, yes/no, on/off, t/f or y/n"),
}


def _parse(variable: str, kind: Any, raw: str) -> object:
    """``raw`` as ``kind``, or a ConfigurationError naming ``variable`` (never a secret's
    value)."""
    try:
        return _from_text(kind, raw)
    except _Invalid as invalid:
        shown = variable if Secret in (kind, *get_args(kind)) else f"{variable}={raw!r}"
        raise ConfigurationError(f"{shown} is not {invalid.expected}", hint=invalid.hint) from None


def _from_text(kind: Any, raw: str) -> object:
    origin, args = get_origin(kind), get_args(kind)
    if origin in (Union, UnionType):  # ``X | None``: a variable always sets an X
        (kind,) = (arg for arg in args if arg is not NoneType)
        return _from_text(kind, raw)
    if origin is Literal:
        if raw in args:
            return raw
        raise _Invalid("one of " + ", ".join(map(repr, args)), "values are case-sensitive")
    if kind in _SCALARS:
        try:
            return _SCALARS[kind](raw)
        except ValueError:
            raise _Invalid(*_EXPECTED[kind]) from None
    expected = f"JSON like {_shape(kind)}"
    try:
        return _from_json(kind, json.loads(raw), "the value")
    except json.JSONDecodeError as error:
        raise _Invalid(expected, f"invalid JSON: {error.msg}") from None
    except ValueError as error:
        raise _Invalid(expected, str(error)) from None


_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    NoneType: "null",
}


def _from_json(kind: Any, value: object, where: str) -> object:
    """A decoded JSON ``value`` as ``kind`` (a list, a str-keyed dict, a dataclass, str or
    Path); ValueError says ``where`` it does not fit."""
    origin, args = get_origin(kind), get_args(kind)
    if origin is list and isinstance(value, list):
        return [_from_json(args[0], item, f"item {i}") for i, item in enumerate(value)]
    if origin is dict and isinstance(value, dict):
        return {key: _from_json(args[1], item, repr(key)) for key, item in value.items()}
    if isinstance(kind, type) and is_dataclass(kind) and isinstance(value, dict):
        kinds = get_type_hints(kind)
        if set(value) != set(kinds):
            raise ValueError(f"{where} needs exactly the keys {', '.join(kinds)}")
        fitted = {key: _from_json(kinds[key], value[key], f"{where} {key!r}") for key in kinds}
        try:
            return kind(**fitted)
        except ConfigurationError as error:
            raise ValueError(f"{where}: {error.message}") from None
    if kind in (str, Path) and isinstance(value, str):
        return kind(value)
    raise ValueError(f"{where} is {_JSON_TYPES[type(value)]}")


def _shape(kind: Any) -> str:
    """A JSON sketch of ``kind`` for messages, e.g. ``[{"identity": "…", "issuer": "…"}]``."""
    origin, args = get_origin(kind), get_args(kind)
    if origin is list:
        return f"[{_shape(args[0])}, …]"
    if origin is dict:
        return f'{{"name": {_shape(args[1])}, …}}'
    if is_dataclass(kind):
        items = (f'"{name}": {_shape(sub)}' for name, sub in get_type_hints(kind).items())
        return "{" + ", ".join(items) + "}"
    return '"/path"' if kind is Path else '"…"'
