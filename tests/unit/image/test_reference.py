"""parse_reference / format_reference: the distribution grammar and file transports."""

from __future__ import annotations

import os

import pytest

from service.errors import InvalidReferenceError
from service.image.model import Transport
from service.image.reference import format_reference, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("alpine:3.19", "index.docker.io", "library/alpine", "3.19", None),
        ("alpine", "index.docker.io", "library/alpine", "latest", None),
        ("docker.io/alpine", "index.docker.io", "library/alpine", "latest", None),
        ("registry:bitnami/redis:7", "index.docker.io", "bitnami/redis", "7", None),
        ("127.0.0.1:5000/team/app:1.0", "127.0.0.1:5000", "team/app", "1.0", None),
        ("localhost/app", "localhost", "app", "latest", None),
        ("registry:5000/app", "registry:5000", "app", "latest", None),
        (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", "org/app", None, DIGEST),
        (f"ghcr.io/org/app:v2@{DIGEST}", "ghcr.io", "org/app", "v2", DIGEST),
        ("[::1]:5000/a__b/c-d.e:x", "[::1]:5000", "a__b/c-d.e", "x", None),
    ],
)
def test_registry_references(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.transport, ref.registry, ref.repository, ref.tag, ref.digest) == (
        Transport.REGISTRY,
        registry,
        repository,
        tag,
        digest,
    )
    assert parse_reference(format_reference(ref)) == ref


@pytest.mark.parametrize(
    ("text", "transport", "path", "tag"),
    [
        ("oci-dir:/images/app", Transport.OCI_DIR, "/images/app", None),
        ("oci-dir:/images/app:v1", Transport.OCI_DIR, "/images/app", "v1"),
        ("oci-archive:/x/app.tar", Transport.OCI_ARCHIVE, "/x/app.tar", None),
        ("docker-archive:/x/app.tar", Transport.DOCKER_ARCHIVE, "/x/app.tar", None),
        ("oci-dir:rel/dir", Transport.OCI_DIR, os.path.abspath("rel/dir"), None),
    ],
)
def test_file_transports(text: str, transport: Transport, path: str, tag: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.transport, ref.path, ref.tag) == (transport, path, tag)
    assert parse_reference(format_reference(ref)) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Alpine:3.19",
        "team/App",
        "app:bad/tag",
        "app:-lead",
        "app@sha256:abc",
        "app@md5:" + "a" * 32,
        "-host.com/app",
        "127.0.0.1:99999/app:1",
        "127.0.0.1:0/app:1",
        "app:" + "t" * 129,
        "a//b",
        "oci-dir:",
        "a" * 256,
    ],
)
def test_malformed_references_say_what_is_valid(text: str) -> None:
    with pytest.raises(InvalidReferenceError) as raised:
        parse_reference(text)
    assert "expected [registry/]repository[:tag]" in str(raised.value)
