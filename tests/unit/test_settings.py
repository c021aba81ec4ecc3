"""Settings: typed values from TOLLGATE_* variables, refused with a message naming the
variable, never showing a secret; ``Settings(**values)`` never reads the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.errors import ConfigurationError
from service.secret import Secret
from service.settings import KeylessIdentity, Settings, get_settings

IDENTITY = {"identity": "https://ci.example/build", "issuer": "https://issuer.example"}
STRONG = "0123456789abcdef-strong"


def from_env(**variables: str) -> Settings:
    return Settings.from_env({f"TOLLGATE_{name.upper()}": v for name, v in variables.items()})


def refusal(**variables: str) -> str:
    with pytest.raises(ConfigurationError) as raised:
        from_env(**variables)
    return str(raised.value)


def test_keyword_values_and_defaults_only_never_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("TOLLGATE_REGISTRY_RETRIES", "9")
    monkeypatch.setenv("TOLLGATE_ENVIRONMENT", "production")
    settings = Settings(data_dir=tmp_path)
    assert settings.registry_retries == 4 and settings.environment == "development"
    assert settings.blob_cache_dir == tmp_path / "cache"
    assert settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'tollgate.db'}"
    assert Settings(registry_retries=1).registry_retries == 1


def test_from_env_reads_the_process_environment_and_overrides_win(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("TOLLGATE_REGISTRY_RETRIES", "9")
    monkeypatch.setenv("TOLLGATE_PLATFORM", "linux/arm64")
    settings = Settings.from_env(platform="linux/s390x", data_dir=tmp_path)
    assert (settings.registry_retries, settings.platform) == (9, "linux/s390x")
    assert settings.data_dir == tmp_path
    assert Settings.from_env({}).registry_retries == 4  # an explicit mapping only


def test_get_settings_reads_the_environment_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TOLLGATE_ENGINE", "trivy")
    get_settings.cache_clear()
    try:
        assert get_settings().engine == "trivy"
        assert get_settings() is get_settings()
    finally:
        get_settings.cache_clear()


def test_variable_names_are_case_insensitive_and_unknown_ones_ignored():
    settings = Settings.from_env(
        {"tollgate_engine": "trivy", "Tollgate_Scan_Retries": "1", "TOLLGATE_NO_SUCH": "x"}
    )
    assert (settings.engine, settings.scan_retries) == ("trivy", 1)


def test_scalars_are_converted_by_their_annotation():
    settings = from_env(
        registry_retries="7",
        registry_timeout="2.5",
        platform="linux/arm64",
        docker_config="/etc/docker/config.json",
        admission_unknown_image="allow-and-queue",
    )
    assert settings.registry_retries == 7 and settings.registry_timeout == 2.5
    assert settings.platform == "linux/arm64"
    assert settings.docker_config == Path("/etc/docker/config.json")
    assert settings.admission_unknown_image == "allow-and-queue"


def test_optional_values_stay_unset_until_a_variable_sets_them():
    unset = from_env()
    assert unset.cache_dir is None and unset.signing_key_password is None
    settings = from_env(cache_dir="/var/cache/tollgate", signing_key_password="")
    assert settings.cache_dir == Path("/var/cache/tollgate")
    assert settings.signing_key_password == Secret("")  # an empty password is a password


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(word, True) for word in ("1", "true", "TRUE", "yes", "On", "t", "Y")],
        *[(word, False) for word in ("0", "false", "False", "no", "OFF", "f", "n")],
    ],
)
def test_booleans_accept_the_usual_words(raw: str, expected: bool):
    assert from_env(admission_fail_open=raw).admission_fail_open is expected


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"registry_retries": "abc"}, "TOLLGATE_REGISTRY_RETRIES='abc' is not an integer"),
        ({"registry_retries": "2.5"}, "TOLLGATE_REGISTRY_RETRIES='2.5' is not an integer"),
        ({"engine_timeout": "soon"}, "TOLLGATE_ENGINE_TIMEOUT='soon' is not a number"),
        ({"admission_fail_open": "maybe"}, "TOLLGATE_ADMISSION_FAIL_OPEN='maybe' is not a boolean"),
        ({"engine": "grype"}, "TOLLGATE_ENGINE='grype' is not one of 'syft', 'trivy'"),
        ({"environment": "Production"}, "TOLLGATE_ENVIRONMENT='Production' is not one of"),
    ],
)
def test_a_bad_scalar_names_the_variable_and_what_it_should_be(
    variables: dict[str, str], message: str
):
    error = refusal(**variables)
    assert error.startswith(message)
    assert "(" in error  # with a hint


def test_lists_mappings_and_identities_are_json():
    settings = from_env(
        insecure_registries='["registry.local:5000"]',
        verify_keys=json.dumps({"ci": "/keys/ci.pub"}),
        keyless_identities=json.dumps([IDENTITY]),
        trusted_root="/roots/trusted_root.json",
    )
    assert settings.insecure_registries == ["registry.local:5000"]
    assert settings.verify_keys == {"ci": Path("/keys/ci.pub")}
    assert settings.keyless_identities == [KeylessIdentity(**IDENTITY)]
    assert from_env(admission_exempt_namespaces="[]").admission_exempt_namespaces == []


@pytest.mark.parametrize(
    ("variables", "message", "hint"),
    [
        ({"insecure_registries": "a,b"}, 'not JSON like ["…", …]', "invalid JSON"),
        ({"insecure_registries": '"a"'}, 'not JSON like ["…", …]', "the value is a string"),
        ({"notify_urls": "[1]"}, "TOLLGATE_NOTIFY_URLS=", "item 0 is a number"),
        ({"verify_keys": '["ci"]'}, 'not JSON like {"name": "/path", …}', "value is a list"),
        ({"verify_keys": '{"ci": null}'}, "TOLLGATE_VERIFY_KEYS=", "'ci' is null"),
        (
            {"keyless_identities": json.dumps([{"identity": "x"}])},
            'not JSON like [{"identity": "…", "issuer": "…"}, …]',
            "item 0 needs exactly the keys identity, issuer",
        ),
        (
            {"keyless_identities": json.dumps([{**IDENTITY, "subject": "x"}])},
            "TOLLGATE_KEYLESS_IDENTITIES=",
            "needs exactly the keys",
        ),
        (
            {"keyless_identities": json.dumps([{**IDENTITY, "issuer": 3}])},
            "TOLLGATE_KEYLESS_IDENTITIES=",
            "item 0 'issuer' is a number",
        ),
        (
            {"keyless_identities": json.dumps([{**IDENTITY, "identity": ""}])},
            "TOLLGATE_KEYLESS_IDENTITIES=",
            "non-empty identity and issuer",
        ),
    ],
)
def test_bad_json_names_the_variable_the_expected_shape_and_the_problem(
    variables: dict[str, str], message: str, hint: str
):
    error = refusal(**variables)
    assert message in error and hint in error


def test_secrets_are_read_masked_and_never_shown():
    settings = from_env(
        webhook_secret=STRONG,
        registry_auth='{"r": {"password": "hunter2"}}',
        notify_secret="notify-key",
        signing_key_password="key-pass",
    )
    assert settings.webhook_secret == Secret(STRONG)
    assert settings.registry_auth is not None
    assert json.loads(settings.registry_auth.get_secret_value())["r"]["password"] == "hunter2"
    shown = repr(settings)
    assert not any(s in shown for s in (STRONG, "hunter2", "notify-key", "key-pass"))


@pytest.mark.parametrize("secret", [None, "too-short"])
def test_production_refuses_a_missing_or_short_webhook_secret(secret: str | None):
    variables = {"environment": "production"}
    if secret is not None:
        variables["webhook_secret"] = secret
    error = refusal(**variables)
    assert "TOLLGATE_WEBHOOK_SECRET must be set (16+ characters) in production" in error
    assert secret is None or secret not in error
    with pytest.raises(ConfigurationError, match="TOLLGATE_WEBHOOK_SECRET"):
        Settings(environment="production", webhook_secret=Secret(secret or ""))
    assert from_env(environment="production", webhook_secret=STRONG).environment == "production"


@pytest.mark.parametrize("name", ["", "keyless:ci", "my key"])
def test_verification_key_names_are_plain_words(name: str):
    with pytest.raises(ConfigurationError, match="TOLLGATE_VERIFY_KEYS names a key"):
        from_env(verify_keys=json.dumps({name: "/keys/ci.pub"}))


def test_keyless_identities_need_a_trusted_root():
    with pytest.raises(ConfigurationError, match="TOLLGATE_TRUSTED_ROOT is not"):
        from_env(keyless_identities=json.dumps([IDENTITY]))
    with pytest.raises(ConfigurationError, match="TOLLGATE_TRUSTED_ROOT is not"):
        Settings(keyless_identities=[KeylessIdentity(**IDENTITY)])


@pytest.mark.parametrize("blank", ["identity", "issuer"])
def test_a_keyless_identity_needs_both_parts(blank: str):
    with pytest.raises(ConfigurationError, match="non-empty identity and issuer"):
        KeylessIdentity(**{**IDENTITY, blank: ""})


@pytest.mark.parametrize("host", ["0.0.0.0", "10.0.0.8", "::", "tollgate.example"])
def test_a_short_webhook_secret_is_refused_beyond_loopback(host: str) -> None:
    settings = Settings(webhook_secret=Secret("x" * 31))
    with pytest.raises(ConfigurationError, match="31 characters") as refused:
        settings.refuse_weak_secrets_on(host)
    assert "x" * 31 not in str(refused.value)
    Settings(webhook_secret=Secret("x" * 32)).refuse_weak_secrets_on(host)
    Settings().refuse_weak_secrets_on(host)  # no secret: no webhook-secret logins at all


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "[::1]", "localhost"])
def test_a_short_webhook_secret_is_allowed_on_loopback(host: str) -> None:
    Settings(webhook_secret=Secret("x")).refuse_weak_secrets_on(host)


def test_the_allowed_registries_are_a_json_list() -> None:
    assert from_env(allowed_registries='["ghcr.io", "127.0.0.1:*"]').allowed_registries == [
        "ghcr.io",
        "127.0.0.1:*",
    ]
    assert Settings().allowed_registries is None
    assert "TOLLGATE_ALLOWED_REGISTRIES" in refusal(allowed_registries="ghcr.io")
