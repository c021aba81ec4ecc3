"""An image's layers stored into the blob cache by a background thread.

Once an image's manifest and config are verified, its layers can be downloaded
while an engine already starts and asks for them one at a time (Syft reads one
layer after another): the engine waits only for a layer that has not arrived
yet. Every blob is still digest-verified before it is published in the cache;
a failed download releases every waiter and is raised by :meth:`finish`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from service.image import incoming
from service.image.inplace import BlobRange, InPlaceReader
from service.image.model import PinnedImage

logger = logging.getLogger(__name__)


class LayerArrivals(Protocol):
    """Layers still being stored in the cache while they are already read."""

    def wait_for(self, digest: str) -> bool:
        """Block until the layer is in the cache: True, or False if it never will be."""
        ...

    def follow(self, digest: str) -> incoming.Follower | InPlaceReader | None:
        """A reader of the layer while it is stored, or read in place; None when it is
        neither (it is in the cache, or never will be: see :meth:`wait_for`)."""
        ...

    def store_all(self) -> None:
        """Every layer in the cache, those read in place too (for a reader of the cache)."""
        ...

    def in_place(self, digest: str) -> BlobRange | None:
        """Where the layer lies on disk when it is read in place (see :meth:`follow`)."""
        ...


class LayerDownload:
    """``fetch(digest)`` for each of ``digests``, in order, in a thread started at once,
    each stored at ``path(digest)`` (None: not readable before it is stored). A layer
    that ``in_place(digest)`` says lies on disk already is left there, read (and
    verified) there by whoever follows it (:mod:`service.image.inplace`), and stored
    only if :meth:`store_all` asks."""

    def __init__(
        self,
        digests: Sequence[str],
        fetch: Callable[[str], None],
        path: Callable[[str], Path] | None = None,
        in_place: Callable[[str], BlobRange | None] | None = None,
    ) -> None:
        self._digests = tuple(digests)
        self._fetch = fetch
        self._path = path
        self._in_place = {
            digest: where
            for digest in self._digests
            if in_place is not None and (where := in_place(digest)) is not None
        }
        # set when the layer is stored, or when the download ends without storing it
        self._settled = {digest: threading.Event() for digest in self._digests}
        self._stored: set[str] = set()
        self._abandoned = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="layer-download", daemon=True)
        self._thread.start()

    def wait_for(self, digest: str) -> bool:
        """Block until ``digest`` is in the cache: True, or False if it never will be."""
        settled = self._settled.get(digest)
        if settled is None:
            return False
        settled.wait()
        return digest in self._stored

    def follow(self, digest: str) -> incoming.Follower | InPlaceReader | None:
        where = self._in_place.get(digest)
        if where is not None:
            return InPlaceReader(where, digest, f"layer {digest}")
        settled = self._settled.get(digest)
        if settled is None or self._path is None:
            return None
        return incoming.follow(self._path(digest), settled, f"layer {digest}")

    def in_place(self, digest: str) -> BlobRange | None:
        return self._in_place.get(digest)

    def store_all(self) -> None:
        """Wait for the download, then store the layers it left in place."""
        self.finish()
        for digest in self._in_place:
            self._fetch(digest)
            self._stored.add(digest)
        self._in_place = {}

    def wait(self) -> None:
        """Until the download ends, however it ends."""
        self._thread.join()

    def finish(self) -> None:
        """Wait for every layer; raise what made the download fail, if anything did."""
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abandon(self) -> None:
        """Stop after the blob in progress and wait for that (the caller gave up)."""
        self._abandoned = True
        self._thread.join()

    def _run(self) -> None:
        try:
            for digest in self._digests:
                if self._abandoned:
                    return
                if digest not in self._in_place:
                    self._fetch(digest)
                    self._stored.add(digest)
                self._settled[digest].set()
        except BaseException as error:  # re-raised in the caller's thread by finish()
            logger.debug("layer download failed: %s", error)
            self._error = error
        finally:
            for settled in self._settled.values():  # what was not stored never will be
                settled.set()


@dataclass(frozen=True)
class Pinning:
    """An image pinned by digest whose layers may still be arriving in the cache."""

    image: PinnedImage
    layers: LayerDownload
