"""An image's layer analysis: each layer read once by digest, the image composed of them.

Layers not in the cache are read in parallel (inflating releases the GIL), from the
blob cache where the fetcher stored them.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from service.image.cache import BlobCache
from service.image.model import ImageConfig, PinnedImage
from service.layers.cache import LayerCache
from service.layers.compose import compose
from service.layers.model import LayerAnalysis, LayerContents
from service.layers.reader import read_layer

logger = logging.getLogger(__name__)

_MAX_THREADS = 4


class LayerAnalyzer:
    def __init__(self, blobs: BlobCache, cache: LayerCache) -> None:
        self._blobs = blobs
        self._cache = cache

    def analyse(self, image: PinnedImage) -> LayerAnalysis:
        """The analysis of ``image``, whose layers are in the blob cache."""
        digests = list(image.layers)
        known: dict[str, LayerContents] = {}
        missing = []
        for digest in dict.fromkeys(digests):
            cached = self._cache.get(digest)
            if cached is None:
                missing.append(digest)
            else:
                known[digest] = cached
        if missing:
            threads = min(len(missing), _MAX_THREADS, os.cpu_count() or 1)
            with ThreadPoolExecutor(threads, thread_name_prefix="layer") as pool:
                for contents in pool.map(self._read, missing):
                    known[contents.digest] = contents
        logger.info(
            "layers of %s: %d read, %d from cache",
            image.digest,
            len(missing),
            len(known) - len(missing),
        )
        layers = [known[digest] for digest in digests]
        return compose(layers, _layer_commands(image.config, len(digests)))

    def _read(self, digest: str) -> LayerContents:
        contents = read_layer(self._blobs.path(digest), digest)
        self._cache.put(contents)
        return contents


def _layer_commands(config: ImageConfig, count: int) -> list[str]:
    """The ``created_by`` of each layer: the history entries that made a layer, in order
    (history that does not match the layers, or none, leaves them empty)."""
    commands = [entry.created_by for entry in config.history if not entry.empty_layer]
    if len(commands) != count:
        return [""] * count
    return commands
