"""The narrow contract every registry consumer (image fetch, signing) codes against."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """A manifest or index as fetched: raw bytes (digest verified) and its media type."""

    media_type: str
    digest: str
    content: bytes


class Registry(Protocol):
    """Operations on one registry host; ``repository`` is e.g. ``library/alpine``."""

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] | None = None
    ) -> Manifest:
        """Fetch by tag or digest; the digest of the bytes is verified.

        Raises ManifestUnknownError when the tag/digest does not exist.
        """
        ...

    def head_manifest(self, repository: str, reference: str) -> str | None:
        """The digest a tag points at, or None when it does not exist."""
        ...

    def get_blob(self, repository: str, digest: str, *, max_size: int = 16 << 20) -> bytes:
        """A small blob (config, signature layer) in memory, digest verified."""
        ...

    def put_blob(self, repository: str, data: bytes) -> str:
        """Upload (monolithic) unless present; returns its digest."""
        ...

    def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        """Push a manifest under a tag or digest; returns its digest."""
        ...

    def get_referrers(
        self, repository: str, digest: str, *, artifact_type: str | None = None
    ) -> list[dict[str, object]]:
        """OCI 1.1 referrers (API, falling back to the ``sha256-<hex>`` index tag)."""
        ...
