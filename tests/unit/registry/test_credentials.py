"""Credentials from TOLLGATE_REGISTRY_AUTH and ~/.docker/config.json; never revealed.

Credential helpers: test_credential_helpers.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from service.errors import ConfigurationError
from service.registry.credentials import Credentials, CredentialStore
from service.secret import Secret
from service.settings import Settings


def store(
    tmp_path: Path, docker: dict[str, object] | None = None, env: str | None = None
) -> CredentialStore:
    config = tmp_path / "config.json"
    if docker is not None:
        config.write_text(json.dumps(docker))
    settings = Settings(docker_config=config, registry_auth=Secret(env) if env else None)
    return CredentialStore.from_settings(settings)


def test_docker_config_auth_and_username_password(tmp_path: Path) -> None:
    auth = base64.b64encode(b"alice:pa:ss").decode()
    creds = store(
        tmp_path,
        {
            "auths": {
                "https://index.docker.io/v1/": {"auth": auth},
                "127.0.0.1:5000": {"username": "bob", "password": "pw"},
                "broken.example": {"auth": "!!!"},
                "acr.example": {"auth": "MDAwMDo=", "identitytoken": "refresh-me"},
            },
        },
    )
    assert creds.lookup("index.docker.io") == Credentials("alice", "pa:ss")
    assert creds.lookup("acr.example") == Credentials("<token>", "refresh-me", identity_token=True)
    assert creds.lookup("127.0.0.1:5000") == Credentials("bob", "pw")
    assert creds.lookup("broken.example") is None
    assert creds.lookup("ghcr.io") is None


def test_env_overrides_docker_config(tmp_path: Path) -> None:
    env = json.dumps({"127.0.0.1:5000": {"username": "env", "password": "secret"}})
    creds = store(
        tmp_path, {"auths": {"127.0.0.1:5000": {"username": "bob", "password": "pw"}}}, env
    )
    assert creds.lookup("127.0.0.1:5000") == Credentials("env", "secret")


def test_password_is_not_in_repr() -> None:
    assert "hunter2" not in repr(Credentials("u", "hunter2"))


@pytest.mark.parametrize("env", ['{"h": {"username": "u"}}', "[1]", '{"h": "hunter2-not-json'])
def test_malformed_env_is_a_configuration_error_without_the_secret(
    tmp_path: Path, env: str
) -> None:
    with pytest.raises(ConfigurationError, match="TOLLGATE_REGISTRY_AUTH") as raised:
        store(tmp_path, env=env)
    assert "hunter2" not in str(raised.value)
