"""Which files are credentials: by name and content, never by a value the report shows."""

from __future__ import annotations

import pytest

from service.layers.model import SecretKind
from service.layers.secrets import CONTENT_LIMIT, classify, wanted

PEM = b"-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n"


@pytest.mark.parametrize(
    ("path", "content", "kind"),
    [
        ("etc/ssl/private/server.key", PEM, SecretKind.PRIVATE_KEY),
        ("app/deploy", b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n", SecretKind.PRIVATE_KEY),
        ("app/settings.py", b"KEY = 'AKIAZ7QWERTYUIOPASDF'\n", SecretKind.AWS_ACCESS_KEY_ID),
        (
            "root/.aws/credentials",
            b"[default]\naws_secret_access_key = abc\n",
            SecretKind.AWS_CREDENTIALS,
        ),
        (
            "root/.docker/config.json",
            b'{"auths": {"r.io": {"auth": "dTpw"}}}',
            SecretKind.REGISTRY_CREDENTIALS,
        ),
        ("srv/.env", b"# db\nDATABASE_URL=postgres://u:p@db/x\n", SecretKind.DOTENV),
        ("srv/.env.production", b"export TOKEN=x\n", SecretKind.DOTENV),
        ("home/u/.npmrc", b"//registry.npmjs.org/:_authToken=npm_x\n", SecretKind.NPM_TOKEN),
        ("home/u/.pypirc", b"[pypi]\nusername = u\npassword = p\n", SecretKind.PYPI_PASSWORD),
        ("root/.git-credentials", b"https://u:ghp_x@github.com\n", SecretKind.GIT_CREDENTIALS),
    ],
)
def test_credentials_are_recognised(path: str, content: bytes, kind: SecretKind) -> None:
    assert wanted(path, len(content))
    assert classify(path, content) is kind


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("usr/lib/python3/dist-packages/x/tests/server.key", PEM),  # a package's test fixture
        ("usr/share/doc/openssl/example.pem", PEM),
        ("srv/.env.example", b"TOKEN=changeme\n"),
        ("srv/.env", b"# nothing set\n"),
        ("root/.docker/config.json", b'{"auths": {"r.io": {}}, "credsStore": "pass"}'),
        ("home/u/.npmrc", b"registry=https://registry.npmjs.org/\n"),
        ("home/u/.pypirc", b"[pypi]\nusername = __token__\n"),
        ("app/docs.txt", b"the documented id AKIAIOSFODNN7EXAMPLE\n"),
        ("usr/bin/tool", b"\x7fELF\0\0AKIAZ7QWERTYUIOPASDF"),
        ("etc/app.conf", b"PRIVATE KEY----- is only mentioned here"),
        ("opt/venv/x/ssh.py", b'_SK_START = b"-----BEGIN OPENSSH PRIVATE KEY-----"\n'),
    ],
)
def test_look_alikes_are_not_credentials(path: str, content: bytes) -> None:
    assert classify(path, content) is None


def test_a_large_file_is_judged_by_name_alone() -> None:
    assert not wanted("srv/big.bin", CONTENT_LIMIT + 1)
    assert classify("srv/big.bin", None) is None
