from __future__ import annotations

import json

import pytest

from service.admission.resolver import DigestResolver
from service.errors import ManifestUnknownError
from service.image.manifest import OCI_INDEX
from service.image.model import Platform
from service.image.reference import parse_reference
from service.registry.interface import Manifest
from tests.unit.admission.helpers import digest_of


class MemoryRegistry:
    """The part of the Registry contract admission uses, counting calls."""

    def __init__(self) -> None:
        self.tags: dict[str, str] = {}
        self.manifests: dict[str, Manifest] = {}
        self.heads = 0
        self.gets = 0

    def head_manifest(self, repository: str, reference: str) -> str | None:
        self.heads += 1
        return self.tags.get(f"{repository}:{reference}")

    def get_manifest(self, repository: str, reference: str, *, accept=None) -> Manifest:
        self.gets += 1
        return self.manifests[reference]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def registry() -> MemoryRegistry:
    return MemoryRegistry()


def test_tags_are_cached_for_the_ttl_and_digests_never_resolved(registry):
    clock = Clock()
    resolver = DigestResolver(
        lambda host: registry,
        ttl=30,
        platform=Platform(os="linux", architecture="amd64"),
        clock=clock,
    )
    registry.tags["team/app:1"] = first = digest_of("one")
    ref = parse_reference("127.0.0.1:5000/team/app:1")
    assert resolver.digest(ref) == first and resolver.digest(ref) == first
    assert registry.heads == 1
    registry.tags["team/app:1"] = second = digest_of("two")  # the tag moved
    clock.now = 29.0
    assert resolver.digest(ref) == first
    clock.now = 31.0
    assert resolver.digest(ref) == second and registry.heads == 2
    pinned = parse_reference(f"127.0.0.1:5000/team/app@{second}")
    assert resolver.digest(pinned) == second and registry.heads == 2
    with pytest.raises(ManifestUnknownError, match="does not exist"):
        resolver.digest(parse_reference("127.0.0.1:5000/team/app:2"))


def test_index_digests_map_to_the_configured_platform_once(registry):
    arm, amd = digest_of("arm64 image"), digest_of("amd64 image")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": d,
                "size": 10,
                "platform": {"os": "linux", "architecture": arch},
            }
            for d, arch in ((arm, "arm64"), (amd, "amd64"))
        ],
    }
    content = json.dumps(index).encode()
    index_digest = digest_of("index")
    registry.manifests[index_digest] = Manifest(
        media_type=OCI_INDEX, digest=index_digest, content=content
    )
    resolver = DigestResolver(
        lambda host: registry, ttl=30, platform=Platform(os="linux", architecture="amd64")
    )
    ref = parse_reference(f"127.0.0.1:5000/team/app@{index_digest}")
    assert resolver.platform_digest(ref, index_digest) == amd
    assert resolver.platform_digest(ref, index_digest) == amd and registry.gets == 1
