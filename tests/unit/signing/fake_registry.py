"""An in-memory implementation of the Registry protocol for signing tests."""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import ImageError, ManifestUnknownError
from service.image.digest import sha256_digest
from service.registry.interface import Manifest


class FakeRegistry:
    """Blobs, manifests and tags of any repositories, held in dictionaries."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[str, Manifest] = {}
        self.tags: dict[tuple[str, str], str] = {}
        self.referrers: dict[str, list[dict[str, object]]] = {}

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] | None = None
    ) -> Manifest:
        digest = (
            reference if reference.startswith("sha256:") else self.tags.get((repository, reference))
        )
        if digest is None or digest not in self.manifests:
            raise ManifestUnknownError(f"{repository}:{reference} not found")
        return self.manifests[digest]

    def head_manifest(self, repository: str, reference: str) -> str | None:
        return self.tags.get((repository, reference))

    def get_blob(self, repository: str, digest: str, *, max_size: int = 16 << 20) -> bytes:
        data = self.blobs[digest]
        if len(data) > max_size:
            raise ImageError(f"blob {digest} is larger than {max_size} bytes")
        return data

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        self.blobs[digest] = data
        return digest

    def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        digest = sha256_digest(content)
        self.manifests[digest] = Manifest(media_type=media_type, digest=digest, content=content)
        if not reference.startswith("sha256:"):
            self.tags[(repository, reference)] = digest
        return digest

    def get_referrers(
        self, repository: str, digest: str, *, artifact_type: str | None = None
    ) -> list[dict[str, object]]:
        return [
            r
            for r in self.referrers.get(digest, [])
            if artifact_type is None or r.get("artifactType") == artifact_type
        ]
