"""Typed settings, read from ``TOLLGATE_*`` environment variables.

Read through :func:`get_settings`, never at import time. Every field is listed
in the README's configuration table.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ConfigurationError
from service.model_base import FrozenModel


def _data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tollgate"))


class KeylessIdentity(FrozenModel):
    """A keyless signer to recognise: the certificate identity and its OIDC issuer."""

    identity: str = Field(min_length=1)  # e.g. https://github.com/org/repo/.github/...@refs/...
    issuer: str = Field(min_length=1)  # e.g. https://token.actions.githubusercontent.com


class Settings(BaseSettings):
    """Tollgate's configuration; defaults suit the embedded single-user mode."""

    model_config = SettingsConfigDict(env_prefix="TOLLGATE_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Field(default_factory=_data_dir)
    cache_dir: Path | None = None
    database_url: str | None = None
    broker_url: str | None = None
    webhook_secret: SecretStr | None = None

    # Registry access
    insecure_registries: list[str] = Field(default_factory=list)
    registry_auth: SecretStr | None = None  # JSON: {"host": {"username":..,"password":..}}
    docker_config: Path | None = None  # defaults to ~/.docker/config.json
    registry_timeout: float = 30.0
    registry_retries: int = 4
    platform: str = "linux/amd64"

    # Engines
    engine: Literal["syft", "trivy"] = "syft"
    syft_path: str | None = None
    trivy_path: str | None = None
    engine_timeout: float = 600.0
    engine_max_disk_gb: float = 20.0  # layers an engine may unpack before it is stopped

    # Vulnerability database
    db_max_age_hours: float = 48.0

    # Scan service (API, workers, notifications)
    notify_urls: list[str] = Field(default_factory=list)  # scan/policy/new-vuln events
    notify_secret: SecretStr | None = None  # HMAC-SHA256 key for X-Tollgate-Signature
    scan_lease_seconds: float = 60.0  # a running scan without heartbeat for this long is retaken
    scan_soft_time_limit: float = 900.0
    scan_time_limit: float = 960.0
    embedded_workers: int = 2  # thread pool size when no broker is configured
    recovery_interval_seconds: float = 60.0  # re-dispatch of stranded scans
    db_update_interval_hours: float = 6.0
    broker_visibility_timeout: float = 3600.0
    scan_retries: int = 5  # attempts after transient errors (registry down, timeouts)
    scan_retry_backoff: float = 2.0  # seconds, doubled per attempt (capped at 60)

    # Kubernetes admission (``/api/v1/admission``)
    admission_mode: Literal["enforce", "warn"] = "enforce"  # warn: never deny, only warn
    admission_unknown_image: Literal["block", "allow-and-queue", "scan"] = "block"
    admission_exempt_namespaces: list[str] = Field(default_factory=lambda: ["kube-system"])
    admission_bundle: str = "default"  # the policy bundle admission decides with
    admission_tag_ttl_seconds: float = 30.0  # how long a tag -> digest resolution is reused
    admission_scan_budget_seconds: float = 7.0  # keep below the webhook timeoutSeconds (10)
    admission_fail_open: bool = False  # admit when Tollgate cannot decide (default: deny)

    # Signing (the service's own cosign key, encrypted at rest; see service/signing/keyring.py)
    signing_key: Path | None = None  # an encrypted cosign.key
    signing_key_password: SecretStr | None = None  # its password ("" is a valid empty one)

    # Scan service: the end of every scan (policy decision, then the service's signature)
    policy_bundle: str = "default"  # the stored bundle every scan is decided with
    sign_repositories: list[str] = Field(default_factory=list)  # globs; empty: sign nothing

    # Signature verification of every scanned registry image (service/signing/checker.py)
    verify_keys: dict[str, Path] = Field(default_factory=dict)  # name -> cosign public key PEM
    keyless_identities: list[KeylessIdentity] = Field(default_factory=list)
    trusted_root: Path | None = None  # Sigstore trusted_root.json; needed by keyless identities

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
        if self.environment == "production" and len(secret) < 16:
            raise ConfigurationError(
                "TOLLGATE_WEBHOOK_SECRET must be set (16+ characters) in production"
            )
        return self

    @model_validator(mode="after")
    def _refuse_incomplete_verification(self) -> Settings:
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
        return self

    @property
    def blob_cache_dir(self) -> Path:
        return self.cache_dir or self.data_dir / "cache"

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'tollgate.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cleared in tests with ``get_settings.cache_clear()``)."""
    return Settings()
