"""Content digests (``sha256:<hex>``): parse, compute while streaming, verify."""

from __future__ import annotations

import hashlib
import re

from service.errors import DigestMismatchError, ImageError

_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def validate_digest(digest: str) -> str:
    """``digest`` itself, or ImageError when it is not a sha256 digest."""
    if not _DIGEST.match(digest):
        raise ImageError(
            f"unsupported or malformed digest {digest!r}",
            hint="Tollgate handles sha256 digests: 'sha256:' followed by 64 lowercase hex digits",
        )
    return digest


def digest_hex(digest: str) -> str:
    """The hex part of a validated digest (used as a file name)."""
    return validate_digest(digest).removeprefix("sha256:")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def mismatch(expected: str, actual: str, what: str) -> DigestMismatchError:
    subject = what if expected in what else f"{what} {expected}"
    return DigestMismatchError(
        f"{subject} hashes to {actual}: the content may have been tampered with",
        hint="do not use this image; re-pull it from a trusted source",
    )


def verify_digest(expected: str, data: bytes, what: str = "content") -> None:
    """Raise DigestMismatchError unless ``data`` hashes to ``expected``."""
    actual = sha256_digest(data)
    if actual != validate_digest(expected):
        raise mismatch(expected, actual, what)


class DigestWriter:
    """Hash bytes as they stream past; ``verify`` them against the expected digest."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def verify(self, expected: str, what: str = "blob") -> None:
        if self.digest != validate_digest(expected):
            raise mismatch(expected, self.digest, what)
