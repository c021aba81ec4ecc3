"""Which files of a layer hold credentials: by name and, for small files, by content.

Only the kind is reported, never the value. Content is read for files of at most
:data:`CONTENT_LIMIT` bytes (keys and credential files are small); test fixtures and
documentation trees (``test/``, ``tests/``, ``testdata/``, ``usr/share/doc/``) are not
searched for keys, since packages ship sample keys there.
"""

from __future__ import annotations

import functools
import json
import posixpath
import re

from service.layers.model import SecretKind

CONTENT_LIMIT = 64 << 10
_SAMPLE_DIRS = frozenset({"test", "tests", "testdata", "test_data", "fixtures"})
_DOC_ROOT = "usr/share/doc/"
# A PEM boundary is a line of its own (RFC 7468); code naming it in a string literal
# (cryptography's ssh.py, a signing tool's key reader) holds no key.
_PRIVATE_KEY = re.compile(rb"^-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?$", re.MULTILINE)
# Documented example ids end in EXAMPLE (AKIAIOSFODNN7EXAMPLE): not a credential.
_AWS_KEY_ID = re.compile(
    rb"(?<![A-Z0-9])(?:AKIA|ASIA)(?![A-Z0-9]{9}EXAMPLE)[A-Z0-9]{16}(?![A-Z0-9])"
)
# One pass for both prefixes: three times faster than two ``in`` tests of short needles.
_AWS_KEY_PREFIX = re.compile(rb"A[KS]IA")
_ASSIGNMENT = re.compile(rb"^\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.]*\s*=\s*\S", re.MULTILINE)
_NPM_TOKEN = re.compile(rb"(?:_authToken|_auth|_password)\s*=\s*\S")
_PYPI_PASSWORD = re.compile(rb"^\s*password\s*[=:]\s*\S", re.MULTILINE)
_AWS_SECRET = re.compile(rb"aws_secret_access_key\s*=\s*\S", re.IGNORECASE)
_GIT_CREDENTIAL = re.compile(rb"://[^\s/:@]+:[^\s/@]+@")
_CREDENTIAL_FILES = frozenset(
    {".git-credentials", ".npmrc", ".pypirc", "credentials", "config.json"}
)
_ENV_TEMPLATES = (".example", ".sample", ".template", ".dist", ".defaults")


def wanted(path: str, size: int) -> bool:
    """Whether the content of ``path`` (``size`` bytes) is needed to classify it."""
    if size > CONTENT_LIMIT:
        return False
    name = path.rpartition("/")[2]
    return name in _CREDENTIAL_FILES or _dotenv(name) or _searched_for_keys(path)


def classify(path: str, content: bytes | None) -> SecretKind | None:
    """The kind of credential ``path`` holds, or None; ``content`` None (not read: too
    large, or not :func:`wanted`) holds none that could be told."""
    if content is None:
        return None
    name = path.rpartition("/")[2]
    named = _by_name(path, name, content)
    if named is not None:
        return named
    if not _searched_for_keys(path):
        return None
    if b"PRIVATE KEY-----" in content and _PRIVATE_KEY.search(content):
        return SecretKind.PRIVATE_KEY
    if _text(content) and _AWS_KEY_PREFIX.search(content) and _AWS_KEY_ID.search(content):
        return SecretKind.AWS_ACCESS_KEY_ID
    return None


def _by_name(path: str, name: str, data: bytes) -> SecretKind | None:  # noqa: PLR0911 - one arm per file kind
    if name == ".git-credentials":
        return SecretKind.GIT_CREDENTIALS if _GIT_CREDENTIAL.search(data) else None
    if name == ".npmrc":
        return SecretKind.NPM_TOKEN if _NPM_TOKEN.search(data) else None
    if name == ".pypirc":
        return SecretKind.PYPI_PASSWORD if _PYPI_PASSWORD.search(data) else None
    if path.endswith(".aws/credentials") or path == "aws/credentials":
        return SecretKind.AWS_CREDENTIALS if _AWS_SECRET.search(data) else None
    if name == "config.json" and posixpath.basename(posixpath.dirname(path)) == ".docker":
        return SecretKind.REGISTRY_CREDENTIALS if _docker_auths(data) else None
    if _dotenv(name):
        return SecretKind.DOTENV if _ASSIGNMENT.search(data) else None
    return None


def _dotenv(name: str) -> bool:
    return name == ".env" or (name.startswith(".env.") and not name.endswith(_ENV_TEMPLATES))


def _docker_auths(data: bytes) -> bool:
    """A Docker client config holding a credential for at least one registry."""
    try:
        document = json.loads(data)
    except ValueError:
        return False
    auths = document.get("auths") if isinstance(document, dict) else None
    if not isinstance(auths, dict):
        return False
    return any(
        isinstance(entry, dict)
        and any(entry.get(key) for key in ("auth", "password", "identitytoken", "registrytoken"))
        for entry in auths.values()
    )


def _searched_for_keys(path: str) -> bool:
    return _searched_directory(path.rpartition("/")[0])


@functools.lru_cache(maxsize=8192)  # a layer's files come directory by directory
def _searched_directory(directory: str) -> bool:
    """Whether files of ``directory`` are searched for keys (not documentation, not a
    test fixture tree)."""
    if f"{directory}/".startswith(_DOC_ROOT):
        return False
    return not _SAMPLE_DIRS.intersection(directory.split("/"))


def _text(content: bytes) -> bool:
    return b"\0" not in content[:1024]
