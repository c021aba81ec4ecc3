"""What each layer contributes, cached by layer digest under ``<cache>/layers``.

A layer's contents depend on its bytes alone, so an entry never goes stale; it is
written atomically, read back with validation (an unreadable entry is dropped and the
layer read again) and touched when read. The directory is bounded: past ``max_bytes``
the least recently used entries are removed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from service.directories import ensure_directory
from service.image.digest import digest_hex

if TYPE_CHECKING:  # loaded with the first entry read or written: has() needs none
    from service.layers.model import LayerContents, LayerEvidence

logger = logging.getLogger(__name__)

_Entry = TypeVar("_Entry", bound="LayerEvidence")

# Schema version of the entries: bump it when what a layer contributes changes.
_VERSION = "v4"
DEFAULT_MAX_BYTES = 512 << 20


class LayerCache:
    def __init__(self, root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._root = root / "layers" / _VERSION
        self._max_bytes = max_bytes
        ensure_directory(self._root, "cache")

    def _path(self, digest: str) -> Path:
        return self._root / f"{digest_hex(digest)}.json"

    def has(self, digest: str) -> bool:
        """Whether an entry for ``digest`` is there (:meth:`get` reads and checks it)."""
        return self._path(digest).exists()

    def get(self, digest: str) -> LayerContents | None:
        from service.layers.model import LayerContents

        return self._get(digest, LayerContents)

    def get_evidence(self, digest: str) -> LayerEvidence | None:
        """The evidence part of the entry for ``digest`` alone (the rest is skipped)."""
        from service.layers.model import LayerEvidence

        return self._get(digest, LayerEvidence)

    def _get(self, digest: str, model: type[_Entry]) -> _Entry | None:
        from pydantic import ValidationError

        path = self._path(digest)
        try:
            contents = model.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            logger.warning("discarding unreadable cached layer analysis %s", path)
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return contents if contents.digest == digest else None

    def put(self, contents: LayerContents) -> None:
        path = self._path(contents.digest)
        fd, temp = tempfile.mkstemp(dir=self._root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(contents.model_dump_json().encode())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        self._evict()

    def _evict(self) -> None:
        """Remove the least recently used entries while the cache is over its bound."""
        entries = []
        for entry in os.scandir(self._root):
            with contextlib.suppress(FileNotFoundError):
                stat = entry.stat()
                entries.append((stat.st_mtime, stat.st_size, entry.path))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self._max_bytes:
                break
            Path(path).unlink(missing_ok=True)
            total -= size
