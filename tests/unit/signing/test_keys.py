from __future__ import annotations

import base64
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import SigningError
from service.signing import ecdsa
from service.signing.keys import (
    SIGSTORE_PEM_LABEL,
    encrypt_private_key,
    generate_private_key,
    load_private_key,
    load_public_key,
    password_from_env_or_prompt,
    write_key_pair,
)


def _envelope(pem: bytes) -> dict[str, Any]:
    lines = pem.decode().strip().splitlines()
    document: dict[str, Any] = json.loads(base64.b64decode("".join(lines[1:-1])))
    return document


@pytest.mark.parametrize(
    ("name", "password"),
    [
        ("sigstore_empty_password_n65536.key", b""),
        ("sigstore_label_hello_n32768.key", b"hello"),
        ("cosign_label_rsa_hello_n32768.key", b"hello"),
    ],
)
def test_loads_keys_cosign_generated(fixtures: Path, name: str, password: bytes) -> None:
    key = load_private_key((fixtures / name).read_bytes(), password)
    assert isinstance(key.curve, ec.SECP256R1)
    # the decrypted key really signs: its signature verifies with its public key
    ecdsa.verify(key.public_key(), b"message", ecdsa.sign(key, b"message"))


def test_wrong_password_is_a_clear_error(fixtures: Path) -> None:
    with pytest.raises(SigningError, match="wrong password"):
        load_private_key((fixtures / "sigstore_label_hello_n32768.key").read_bytes(), b"nope")


def test_sec1_inside_encrypted_key_is_refused(fixtures: Path) -> None:
    with pytest.raises(SigningError, match="SEC1"):
        load_private_key((fixtures / "cosign_label_sec1_hello_n65536.key").read_bytes(), b"hello")


def test_plaintext_sec1_key_is_refused(fixtures: Path) -> None:
    with pytest.raises(SigningError, match="SEC1") as info:
        load_private_key((fixtures / "sec1_plaintext_ec_private.key").read_bytes(), b"")
    assert "import-key-pair" in str(info.value)


def _rewrap(pem: bytes, **params: int) -> bytes:
    document = _envelope(pem)
    document["kdf"]["params"].update(params)
    body = base64.b64encode(json.dumps(document).encode()).decode()
    label = SIGSTORE_PEM_LABEL
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n".encode()


@pytest.mark.parametrize("n", [16384, 262144, 1 << 20])
def test_out_of_range_scrypt_n_is_refused(fixtures: Path, n: int) -> None:
    pem = _rewrap((fixtures / "sigstore_empty_password_n65536.key").read_bytes(), N=n)
    with pytest.raises(SigningError, match=f"N={n}"):
        load_private_key(pem, b"")


def test_generated_key_has_cosign_envelope_and_round_trips() -> None:
    key = generate_private_key()
    pem = encrypt_private_key(key, b"s3cret")
    assert pem.startswith(f"-----BEGIN {SIGSTORE_PEM_LABEL}-----\n".encode())
    assert all(len(line) <= 64 for line in pem.decode().splitlines())
    document = _envelope(pem)
    assert list(document) == ["kdf", "cipher", "ciphertext"]
    kdf, cipher = document["kdf"], document["cipher"]
    assert kdf == {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1}, "salt": kdf["salt"]}
    assert len(base64.b64decode(kdf["salt"])) == 32
    assert cipher["name"] == "nacl/secretbox"
    assert len(base64.b64decode(cipher["nonce"])) == 24
    loaded = load_private_key(pem, b"s3cret")
    assert loaded.private_numbers() == key.private_numbers()


def test_write_key_pair_modes_and_refuses_overwrite(tmp_path: Path) -> None:
    files = write_key_pair(tmp_path / "cosign", b"")
    assert stat.S_IMODE(files.private_key.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.public_key.stat().st_mode) == 0o644
    public = load_public_key(files.public_key.read_bytes())
    private = load_private_key(files.private_key.read_bytes(), b"")
    assert public.public_numbers() == private.public_key().public_numbers()
    assert files.public_key.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----\n")
    before = files.private_key.read_bytes()
    with pytest.raises(SigningError, match="refusing to overwrite"):
        write_key_pair(tmp_path / "cosign", b"")
    assert files.private_key.read_bytes() == before


def test_password_env_set_but_empty_is_used() -> None:
    def never(_: str) -> str:
        raise AssertionError("must not prompt")

    assert (
        password_from_env_or_prompt(confirm=True, prompt=never, environ={"COSIGN_PASSWORD": ""})
        == b""
    )


def test_password_prompt_confirms() -> None:
    answers = iter(["a", "b"])
    with pytest.raises(SigningError, match="do not match"):
        password_from_env_or_prompt(confirm=True, prompt=lambda _: next(answers), environ={})
    same = iter(["pw", "pw"])
    assert (
        password_from_env_or_prompt(confirm=True, prompt=lambda _: next(same), environ={}) == b"pw"
    )
