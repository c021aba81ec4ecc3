"""Typed settings, read from ``TOLLGATE_*`` environment variables.

Read through :func:`get_settings`, never at import time. Every field is listed
in the README's configuration table.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ConfigurationError


def _data_dir() -> Path:
    return Path(platformdirs.user_data_dir("tollgate"))


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

    # Vulnerability database
    db_max_age_hours: float = 48.0

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.environment == "production":
            if self.webhook_secret is None or len(self.webhook_secret.get_secret_value()) < 16:
                raise ConfigurationError(
                    "TOLLGATE_WEBHOOK_SECRET must be set (16+ characters) in production"
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
