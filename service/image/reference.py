"""Parse and format image references (the distribution reference grammar + file transports).

Accepted forms::

    alpine:3.19                         -> index.docker.io/library/alpine:3.19
    [registry:]host[:port]/repo[:tag][@sha256:<64 hex>]
    oci-dir:PATH[:TAG]   oci-archive:FILE.tar[:TAG]   docker-archive:FILE.tar
"""

from __future__ import annotations

import os
import re

from service.errors import InvalidReferenceError
from service.image.model import ImageReference, Transport

DOCKER_HUB = "index.docker.io"
DEFAULT_TAG = "latest"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
_MAX_NAME_LENGTH = 255

_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?$"
)
_PATH_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_PORT_THEN_PATH = re.compile(r"^[0-9]+/")  # "registry:5000/app" is a host named registry

_REGISTRY_HELP = (
    "expected [registry/]repository[:tag][@sha256:<64 hex>], e.g. alpine:3.19, "
    "127.0.0.1:5000/team/app:1.0 or ghcr.io/org/app@sha256:...; repository names are "
    "lowercase; or oci-dir:PATH[:TAG], oci-archive:FILE.tar[:TAG], docker-archive:FILE.tar"
)
_FILE_TRANSPORTS = {
    Transport.OCI_DIR.value: Transport.OCI_DIR,
    Transport.OCI_ARCHIVE.value: Transport.OCI_ARCHIVE,
    Transport.DOCKER_ARCHIVE.value: Transport.DOCKER_ARCHIVE,
}


def _invalid(text: str, why: str) -> InvalidReferenceError:
    return InvalidReferenceError(f"invalid image reference {text!r}: {why}", hint=_REGISTRY_HELP)


def parse_reference(text: str) -> ImageReference:
    """Parse a user-supplied reference; InvalidReferenceError says what a valid one is."""
    text = text.strip()
    if not text:
        raise _invalid(text, "it is empty")
    scheme, sep, rest = text.partition(":")
    if sep and scheme in _FILE_TRANSPORTS:
        return _parse_file(text, _FILE_TRANSPORTS[scheme], rest)
    if sep and scheme == Transport.REGISTRY.value and not _PORT_THEN_PATH.match(rest):
        return _parse_registry(text, rest)
    return _parse_registry(text, text)


def _parse_file(text: str, transport: Transport, rest: str) -> ImageReference:
    path, tag = rest, None
    head, sep, tail = rest.rpartition(":")
    if sep and head and transport is not Transport.DOCKER_ARCHIVE and _TAG.match(tail):
        path, tag = head, tail
    if not path:
        raise _invalid(text, f"{transport.value}: needs a path")
    return ImageReference(transport=transport, path=os.path.abspath(path), tag=tag)


def _parse_registry(text: str, rest: str) -> ImageReference:
    name, _, digest = rest.partition("@")
    if digest and not _DIGEST.match(digest):
        raise _invalid(text, f"digest {digest!r} is not sha256: followed by 64 lowercase hex")
    tag: str | None = None
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.match(tag):
            raise _invalid(text, f"tag {tag!r} must match [A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}")
    if not name:
        raise _invalid(text, "the repository name is missing")
    if len(name) > _MAX_NAME_LENGTH:
        raise _invalid(text, f"the name is longer than {_MAX_NAME_LENGTH} characters")
    registry, repository = _split_domain(name)
    domain = _DOMAIN.match(registry)
    if not domain or (domain["port"] is not None and not 0 < int(domain["port"]) < 65536):
        raise _invalid(text, f"registry host {registry!r} is not a valid host[:port]")
    for component in repository.split("/"):
        if not _PATH_COMPONENT.match(component):
            raise _invalid(
                text,
                f"repository component {component!r} must be lowercase letters/digits "
                "separated by '.', '_', '__' or '-'",
            )
    if tag is None and not digest:
        tag = DEFAULT_TAG
    return ImageReference(
        transport=Transport.REGISTRY,
        registry=registry,
        repository=repository,
        tag=tag,
        digest=digest or None,
    )


def _split_domain(name: str) -> tuple[str, str]:
    first, sep, remainder = name.partition("/")
    is_domain = sep and (any(c in first for c in ".:[") or first == "localhost")
    if not is_domain:
        return DOCKER_HUB, f"library/{name}" if "/" not in name else name
    if first.lower() in _HUB_ALIASES:
        return DOCKER_HUB, remainder if "/" in remainder else f"library/{remainder}"
    return first, remainder


def format_reference(ref: ImageReference) -> str:
    """The canonical string for ``ref``; ``parse_reference`` of it gives ``ref`` back."""
    if ref.transport is not Transport.REGISTRY:
        return f"{ref.transport.value}:{ref.path}" + (f":{ref.tag}" if ref.tag else "")
    text = f"{ref.registry}/{ref.repository}"
    if ref.tag:
        text += f":{ref.tag}"
    if ref.digest:
        text += f"@{ref.digest}"
    return text
