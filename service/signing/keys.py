"""Cosign-compatible key pairs: scrypt + NaCl secretbox encrypted PKCS#8, PKIX public keys.

The private key file is exactly what ``cosign generate-key-pair`` writes: an ECDSA P-256
key as PKCS#8 DER, encrypted with a key derived by scrypt (N=65536, r=8, p=1, 32-byte
salt) and sealed with NaCl secretbox (24-byte nonce); the JSON envelope
``{"kdf":..,"cipher":..,"ciphertext":..}`` sits in an ``ENCRYPTED SIGSTORE PRIVATE KEY``
PEM block.  Key material and passwords are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from service.errors import SigningError

logger = logging.getLogger(__name__)

SIGSTORE_PEM_LABEL = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_LABEL = "ENCRYPTED COSIGN PRIVATE KEY"
_ACCEPTED_LABELS = (SIGSTORE_PEM_LABEL, COSIGN_PEM_LABEL)
PASSWORD_ENV = "COSIGN_PASSWORD"  # noqa: S105 - the variable name, not a password

SCRYPT_N = 65536
SCRYPT_R = 8
SCRYPT_P = 1
_ALLOWED_SCRYPT_N = frozenset({32768, 65536, 131072})
_SALT_BYTES = 32
_KEY_BYTES = 32
_SCRYPT_MAXMEM = 256 << 20
_MAX_KEY_FILE_BYTES = 64 << 10

PRIVATE_KEY_MODE = 0o600
PUBLIC_KEY_MODE = 0o644


@dataclass(frozen=True)
class KeyPairFiles:
    private_key: Path
    public_key: Path


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_key_pem(key: ec.EllipticCurvePublicKey) -> bytes:
    """PKIX ``PUBLIC KEY`` PEM, as cosign's ``cosign.pub``."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _pem(label: str, der: bytes) -> bytes:
    body = base64.b64encode(der).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"
    ).encode()


def _unpem(data: bytes) -> tuple[str, bytes]:
    """The label and DER of the first PEM block in ``data``."""
    text = data.decode("ascii", errors="replace")
    begin = text.find("-----BEGIN ")
    if begin < 0:
        raise SigningError("the key file holds no PEM block", hint="give a cosign.key file")
    label_end = text.find("-----", begin + 11)
    label = text[begin + 11 : label_end]
    end_marker = f"-----END {label}-----"
    end = text.find(end_marker, label_end)
    if label_end < 0 or end < 0:
        raise SigningError("the key file's PEM block is truncated", hint="re-export the key")
    body = "".join(text[label_end + 5 : end].split())
    try:
        return label, base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError("the key file's PEM body is not valid base64") from exc


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=_KEY_BYTES
    )


def encrypt_private_key(key: ec.EllipticCurvePrivateKey, password: bytes) -> bytes:
    """The ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM cosign writes for ``key``."""
    plaintext = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt = nacl.utils.random(_SALT_BYTES)
    nonce = nacl.utils.random(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    sealed = box.encrypt(plaintext, nonce).ciphertext
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    return _pem(SIGSTORE_PEM_LABEL, json.dumps(document, separators=(",", ":")).encode())


def _field(document: object, *path: str) -> object:
    value = document
    for name in path:
        if not isinstance(value, dict) or name not in value:
            raise SigningError(
                f"the encrypted key has no {'.'.join(path)} field",
                hint="the file is not a cosign key; generate one with `tollgate key generate`",
            )
        value = value[name]
    return value


def _b64_field(document: object, *path: str) -> bytes:
    value = _field(document, *path)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SigningError(f"the encrypted key's {'.'.join(path)} is not base64") from exc


def _int_field(document: object, *path: str) -> int:
    value = _field(document, *path)
    if not isinstance(value, int) or isinstance(value, bool):
        raise SigningError(f"the encrypted key's {'.'.join(path)} is not an integer")
    return value


def _decrypt(envelope: bytes, password: bytes) -> bytes:
    try:
        document = json.loads(envelope)
    except ValueError as exc:
        raise SigningError("the encrypted key is not the JSON cosign writes") from exc
    if _field(document, "kdf", "name") != "scrypt":
        raise SigningError("unsupported key derivation: only scrypt keys (cosign) are supported")
    if _field(document, "cipher", "name") != "nacl/secretbox":
        raise SigningError("unsupported cipher: only nacl/secretbox keys (cosign) are supported")
    n = _int_field(document, "kdf", "params", "N")
    r = _int_field(document, "kdf", "params", "r")
    p = _int_field(document, "kdf", "params", "p")
    if n not in _ALLOWED_SCRYPT_N or r != SCRYPT_R or p != SCRYPT_P:
        raise SigningError(
            f"refusing scrypt parameters N={n}, r={r}, p={p}",
            hint="cosign accepts N in {32768, 65536, 131072} with r=8, p=1; regenerate the key",
        )
    salt = _b64_field(document, "kdf", "salt")
    nonce = _b64_field(document, "cipher", "nonce")
    sealed = _b64_field(document, "ciphertext")
    if len(nonce) != nacl.secret.SecretBox.NONCE_SIZE:
        raise SigningError("the encrypted key's nonce is not 24 bytes; the file is corrupt")
    box = nacl.secret.SecretBox(_scrypt(password, salt, n, r, p))
    try:
        return bytes(box.decrypt(sealed, nonce))
    except nacl.exceptions.CryptoError as exc:
        raise SigningError(
            "could not decrypt the private key: wrong password or corrupted key file",
            hint=f"set {PASSWORD_ENV} to the password given when the key was generated",
        ) from exc


def _is_sec1(der: bytes) -> bool:
    """True for an RFC 5915 ``ECPrivateKey`` (version 1 then an OCTET STRING)."""
    if len(der) < 2 or der[0] != 0x30:
        return False
    offset = 2 + (der[1] & 0x7F if der[1] & 0x80 else 0)
    return der[offset : offset + 4] == b"\x02\x01\x01\x04"


def _load_pkcs8(der: bytes) -> ec.EllipticCurvePrivateKey:
    if _is_sec1(der):
        raise SigningError(
            "the decrypted key is a SEC1 'EC PRIVATE KEY', not PKCS#8",
            hint="re-import it with `cosign import-key-pair` or generate a new key",
        )
    try:
        key = serialization.load_der_private_key(der, password=None)
    except ValueError as exc:
        raise SigningError("the decrypted key is not a PKCS#8 private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError(
            f"unsupported key type {type(key).__name__.lstrip('_')}",
            hint="Tollgate signs with ECDSA P-256 keys; generate one with `tollgate key generate`",
        )
    return key


def load_private_key(data: bytes, password: bytes) -> ec.EllipticCurvePrivateKey:
    """Decrypt a cosign private key (either PEM label)."""
    if len(data) > _MAX_KEY_FILE_BYTES:
        raise SigningError("the key file is too large to be a cosign key")
    if b"-----BEGIN EC PRIVATE KEY-----" in data:
        raise SigningError(
            "this is a plaintext SEC1 'EC PRIVATE KEY'; Tollgate reads cosign's encrypted keys",
            hint="convert it with `cosign import-key-pair --key FILE` and use the cosign.key",
        )
    label, envelope = _unpem(data)
    if label not in _ACCEPTED_LABELS:
        raise SigningError(
            f"unsupported PEM block {label!r}",
            hint=f"expected {SIGSTORE_PEM_LABEL!r} or {COSIGN_PEM_LABEL!r} (a cosign key)",
        )
    return _load_pkcs8(_decrypt(envelope, password))


def load_public_key(data: bytes) -> ec.EllipticCurvePublicKey:
    """A PKIX ``PUBLIC KEY`` PEM holding an ECDSA P-256 key."""
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise SigningError(
            "the public key file is not a PEM 'PUBLIC KEY'", hint="give the cosign.pub file"
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SigningError("unsupported public key: Tollgate verifies ECDSA P-256 keys only")
    return key


def password_from_env_or_prompt(
    *,
    confirm: bool,
    prompt: Callable[[str], str],
    environ: Mapping[str, str] = os.environ,
) -> bytes:
    """``COSIGN_PASSWORD`` when set (even empty), else ask (twice when ``confirm``)."""
    if PASSWORD_ENV in environ:
        return environ[PASSWORD_ENV].encode()
    first = prompt("Enter password for private key: ")
    if confirm and prompt("Enter password for private key again: ") != first:
        raise SigningError("the passwords do not match", hint="run the command again")
    return first.encode()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError as exc:
        raise SigningError(
            f"{path} already exists; refusing to overwrite it",
            hint="move it away or choose another --output-key-prefix",
        ) from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def write_key_pair(prefix: Path, password: bytes) -> KeyPairFiles:
    """Generate and write ``<prefix>.key`` (0600) and ``<prefix>.pub`` (0644)."""
    files = KeyPairFiles(Path(f"{prefix}.key"), Path(f"{prefix}.pub"))
    for path in (files.private_key, files.public_key):
        if path.exists():
            raise SigningError(
                f"{path} already exists; refusing to overwrite it",
                hint="move it away or choose another --output-key-prefix",
            )
    key = generate_private_key()
    _write_new(files.private_key, encrypt_private_key(key, password), PRIVATE_KEY_MODE)
    _write_new(files.public_key, public_key_pem(key.public_key()), PUBLIC_KEY_MODE)
    logger.info("wrote key pair %s / %s", files.private_key, files.public_key)
    return files
