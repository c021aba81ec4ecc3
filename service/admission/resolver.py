"""Tag -> digest resolution for admission, cached for a short TTL.

A tag is asked of its registry (one ``HEAD``) at most once per TTL; a digest is never
resolved (pod specs that pin digests cost no registry round trip). The platform image
behind an index digest is immutable, so it is cached without expiry (bounded LRU).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from service.errors import ManifestUnknownError
from service.image.manifest import ImageIndex, parse_manifest, select_platform
from service.image.model import ImageReference, Platform
from service.image.reference import format_reference
from service.registry.interface import Registry

logger = logging.getLogger(__name__)

RegistryFactory = Callable[[str], Registry]
_PLATFORM_CACHE_SIZE = 4096


@dataclass(frozen=True)
class _Entry:
    digest: str
    expires: float


class DigestResolver:
    """Thread-safe: API requests run on a thread pool."""

    def __init__(
        self,
        registries: RegistryFactory,
        *,
        ttl: float,
        platform: Platform,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registries = registries
        self._ttl = ttl
        self._platform = platform
        self._clock = clock
        self._tags: dict[tuple[str, str, str], _Entry] = {}
        self._children: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def digest(self, ref: ImageReference) -> str:
        """The digest ``ref`` names: its own, or what its tag points at now (cached).

        Raises ManifestUnknownError when the tag does not exist and RegistryError
        subclasses when the registry cannot be asked.
        """
        cached = self.cached_digest(ref)
        if cached is not None:
            return cached
        key = _key(ref)
        now = self._clock()
        digest = self._registries(key[0]).head_manifest(key[1], key[2])
        if digest is None:
            raise ManifestUnknownError(
                f"{format_reference(ref)} does not exist in its registry",
                hint="push the image or fix the tag in the workload",
            )
        with self._lock:
            self._tags[key] = _Entry(digest, now + self._ttl)
            if len(self._tags) > _PLATFORM_CACHE_SIZE:
                self._evict_expired(now)
        logger.debug("resolved %s to %s", format_reference(ref), digest)
        return digest

    def cached_digest(self, ref: ImageReference) -> str | None:
        """The digest ``ref`` names if no registry call is needed (pinned, or a tag
        resolved within the TTL), else None."""
        if ref.digest is not None:
            return ref.digest
        with self._lock:
            cached = self._tags.get(_key(ref))
        return cached.digest if cached is not None and cached.expires > self._clock() else None

    def cached_platform_digest(self, digest: str) -> str | None:
        """What :meth:`platform_digest` answered for ``digest`` before, or None."""
        with self._lock:
            child = self._children.get(digest)
            if child is not None:
                self._children.move_to_end(digest)
            return child

    def platform_digest(self, ref: ImageReference, digest: str) -> str:
        """The platform image manifest behind ``digest`` (itself unless it is an index)."""
        cached = self.cached_platform_digest(digest)
        if cached is not None:
            return cached
        assert ref.registry is not None and ref.repository is not None
        manifest = self._registries(ref.registry).get_manifest(ref.repository, digest)
        document = parse_manifest(manifest.content, manifest.media_type)
        child = digest
        if isinstance(document, ImageIndex):
            child = select_platform(document, self._platform, format_reference(ref)).digest
        with self._lock:
            self._children[digest] = child
            if len(self._children) > _PLATFORM_CACHE_SIZE:
                self._children.popitem(last=False)
        return child

    def _evict_expired(self, now: float) -> None:
        for key in [k for k, entry in self._tags.items() if entry.expires <= now]:
            del self._tags[key]


def _key(ref: ImageReference) -> tuple[str, str, str]:
    assert ref.registry is not None and ref.repository is not None
    return (ref.registry, ref.repository, ref.tag or "latest")
