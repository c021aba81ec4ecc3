from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from service.errors import ConfigurationError, SigningError
from service.settings import Settings
from service.signing.keyring import fingerprint, load_signing_key
from service.signing.keys import generate_private_key, write_key_pair

PASSWORD = "s3cret-signing-pass"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    files = write_key_pair(tmp_path / "service", PASSWORD.encode())
    return files.private_key


def _settings(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name in ("TOLLGATE_SIGNING_KEY", "TOLLGATE_SIGNING_KEY_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings.from_env()


def test_loads_key_from_settings_without_logging_secrets(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, key_file: Path
) -> None:
    settings = _settings(
        monkeypatch, TOLLGATE_SIGNING_KEY=str(key_file), TOLLGATE_SIGNING_KEY_PASSWORD=PASSWORD
    )
    caplog.set_level(logging.DEBUG)

    loaded = load_signing_key(settings)

    public_pem = (key_file.parent / "service.pub").read_bytes()
    expected = serialization.load_pem_public_key(public_pem)
    assert loaded.public_key.public_numbers() == expected.public_numbers()  # type: ignore[union-attr]
    assert loaded.key_id == fingerprint(loaded.public_key)
    private_der = loaded.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    private_number = str(loaded.private_key.private_numbers().private_value)
    logs = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert loaded.key_id in logs  # something was logged, just not secrets
    assert PASSWORD not in logs
    assert private_number not in logs
    assert private_der.hex() not in logs
    assert key_file.read_text().splitlines()[1] not in logs  # the encrypted body either
    assert PASSWORD not in repr(loaded) and PASSWORD not in repr(settings)


def test_wrong_password_is_a_clear_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, key_file: Path
) -> None:
    wrong = "not-the-password"
    settings = _settings(
        monkeypatch, TOLLGATE_SIGNING_KEY=str(key_file), TOLLGATE_SIGNING_KEY_PASSWORD=wrong
    )
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SigningError, match="wrong password") as caught:
        load_signing_key(settings)
    assert "TOLLGATE_SIGNING_KEY_PASSWORD" in str(caught.value)
    assert wrong not in str(caught.value) and wrong not in caplog.text


def test_empty_password_is_a_valid_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fixtures: Path
) -> None:
    path = tmp_path / "cosign.key"
    shutil.copy(fixtures / "sigstore_empty_password_n65536.key", path)
    settings = _settings(
        monkeypatch, TOLLGATE_SIGNING_KEY=str(path), TOLLGATE_SIGNING_KEY_PASSWORD=""
    )
    assert load_signing_key(settings).key_id.startswith("sha256:")


def test_missing_configuration_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, key_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="TOLLGATE_SIGNING_KEY"):
        load_signing_key(_settings(monkeypatch))
    no_password = _settings(monkeypatch, TOLLGATE_SIGNING_KEY=str(key_file))
    with pytest.raises(ConfigurationError, match="TOLLGATE_SIGNING_KEY_PASSWORD"):
        load_signing_key(no_password)
    absent = _settings(
        monkeypatch,
        TOLLGATE_SIGNING_KEY=str(tmp_path / "absent.key"),
        TOLLGATE_SIGNING_KEY_PASSWORD=PASSWORD,
    )
    with pytest.raises(ConfigurationError, match="cannot read the signing key"):
        load_signing_key(absent)


def test_plaintext_key_is_refused(monkeypatch: pytest.MonkeyPatch, fixtures: Path) -> None:
    settings = _settings(
        monkeypatch,
        TOLLGATE_SIGNING_KEY=str(fixtures / "sec1_plaintext_ec_private.key"),
        TOLLGATE_SIGNING_KEY_PASSWORD="",
    )
    with pytest.raises(SigningError, match="SEC1"):
        load_signing_key(settings)


def test_fingerprint_differs_per_key() -> None:
    first, second = generate_private_key(), generate_private_key()
    assert fingerprint(first.public_key()) != fingerprint(second.public_key())
    assert fingerprint(first.public_key()) == fingerprint(first.public_key())
