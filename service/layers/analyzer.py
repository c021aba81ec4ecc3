"""An image's layer analysis: each layer read once by digest, the image composed of them.

Layers not in the cache are read in parallel (inflating releases the GIL), from the
blob cache where the fetcher stores them — as they arrive, when they are still being
downloaded; one thread of a process reads a given layer at a time, and the others wait
for its result. The same pass keeps the layer's evidence
for Syft (:mod:`service.layers.evidence`) as a blob, from which :meth:`evidence_image`
composes an image Syft can catalogue in place of the real one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from service.errors import BlobNotStoredError
from service.image.cache import BlobCache
from service.image.digest import digest_hex, sha256_digest
from service.image.download import LayerArrivals
from service.image.layout import write_image_layout
from service.image.manifest import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Descriptor
from service.image.model import ImageConfig, PinnedImage, Platform
from service.layers.cache import LayerCache
from service.layers.child_read import ChildRead, child_layer
from service.layers.compose import compose
from service.layers.model import EvidenceListing, LayerAnalysis, LayerContents, LayerEvidence
from service.layers.reader import EMPTY_EVIDENCE, read_keeping_evidence
from service.layers.squash import SquashedTree
from service.layers.tarstream import TarStream

logger = logging.getLogger(__name__)

_Layer = TypeVar("_Layer", bound=LayerEvidence)
_MAX_THREADS = 4
_BEHIND_CHILDREN = 10  # this process's layer reads beside a child's: that much nicer
_reading: dict[str, threading.Lock] = {}
_reading_guard = threading.Lock()


class _NeverArrived(Exception):
    """A layer's download ended without it (the download reports why)."""


@dataclass(frozen=True)
class EvidenceImage:
    """The image of an image's evidence layers, and the real layer (diff_id) each of its
    layers stands for: a location Syft reports in an evidence layer is in that layer."""

    image: PinnedImage
    layers: dict[str, str]  # evidence layer digest -> the real layer's diff_id
    listings: dict[str, EvidenceListing]  # what each evidence layer holds


class LayerAnalyzer:
    def __init__(self, blobs: BlobCache, cache: LayerCache) -> None:
        self._blobs = blobs
        self._cache = cache

    def analyse(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> LayerAnalysis:
        """The analysis of ``image``, whose layers are in the blob cache or, with
        ``arrivals`` (all settled), read in place."""
        try:
            layers = self._contents(image, self._cache.get, arrivals)
        except _NeverArrived as missing:
            raise BlobNotStoredError(f"layer {missing}: its download failed") from None
        return compose(layers, _layer_commands(image.config, len(layers)))

    def evidence_image(
        self, image: PinnedImage, arrivals: LayerArrivals | None = None
    ) -> EvidenceImage | None:
        """The evidence of ``image``'s layers as an image of as many layers, in the blob
        cache with its layout; None when a layer holds evidence that cannot be kept or
        never arrives. ``arrivals``: layers still arriving, each read as it arrives."""
        try:
            layers = self._contents(image, self._cache.get_evidence, arrivals)
        except (_NeverArrived, BlobNotStoredError):
            return None
        if not all(layer.evidence_understood for layer in layers):
            return None
        listings: dict[str, EvidenceListing] = {}
        pairs: list[tuple[str, str]] = []  # (evidence layer digest, the real layer's diff_id)
        for layer, diff_id in zip(layers, image.config.diff_ids, strict=True):
            if layer.evidence is None or layer.evidence_listing is None:
                return None  # read without keeping its evidence
            if not self._blobs.has(layer.evidence):
                return None
            listings[layer.evidence] = layer.evidence_listing
            pairs.append((layer.evidence, diff_id))
        # A layer without evidence changes nothing Syft sees: an image that adds one (an
        # application-code push) shares the evidence image, and its catalog, of its base.
        pairs = [(d, diff_id) for d, diff_id in pairs if d != EMPTY_EVIDENCE] or pairs[:1]
        digests = [digest for digest, _ in pairs]
        # identical evidence in two layers: the upper one provides the squashed file
        real = dict(pairs)
        return EvidenceImage(self.composed(image, digests), real, listings)

    def composed(self, image: PinnedImage, digests: Sequence[str]) -> PinnedImage:
        """The image of the evidence layers ``digests`` (in the blob cache), named as
        ``image``, with its layout written."""
        config_bytes, manifest_bytes = self._documents(image.platform, digests)
        config_digest = self._blobs.put_bytes(config_bytes, what="evidence config")
        digest = self._blobs.put_bytes(manifest_bytes, what="evidence manifest")
        descriptor = Descriptor(media_type=OCI_MANIFEST, digest=digest, size=len(manifest_bytes))
        return PinnedImage(
            reference=image.reference,
            display_name=image.display_name,
            digest=digest,
            platform=image.platform,
            media_type=OCI_MANIFEST,
            layout=write_image_layout(self._blobs, descriptor, image.platform),
            config_digest=config_digest,
            layers=tuple(digests),
            size=len(config_bytes) + sum(self._size(digest) for digest in digests),
            config=ImageConfig(diff_ids=tuple(digests)),
        )

    def composed_digest(self, platform: Platform, digests: Sequence[str]) -> str:
        """The digest :meth:`composed` would give the image of ``digests``, nothing written."""
        return sha256_digest(self._documents(platform, digests)[1])

    def files(self, digest: str, names: Collection[str], limit: int) -> dict[str, bytes]:
        """The regular files ``names`` of the evidence layer ``digest`` (paths without
        the leading slash), each read up to ``limit`` bytes."""
        found: dict[str, bytes] = {}
        with self._blobs.path(digest).open("rb") as raw:
            stream = TarStream(raw)
            for entry in stream:
                name = entry.name.strip("/")
                if entry.isreg() and name in names:
                    found[name] = stream.read(limit)
        return found

    def squashed(self, digests: Sequence[str]) -> SquashedTree:
        """The evidence layers ``digests`` as one filesystem (see :class:`SquashedTree`)."""
        return SquashedTree.of([(d, self._blobs.path(d)) for d in digests])

    def _documents(self, platform: Platform, digests: Sequence[str]) -> tuple[bytes, bytes]:
        """The config and manifest of the image of the evidence layers ``digests``."""
        config = {
            "architecture": platform.architecture,
            "os": platform.os,
            **({"variant": platform.variant} if platform.variant else {}),
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": list(digests)},
        }
        config_bytes = json.dumps(config, sort_keys=True).encode()
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": sha256_digest(config_bytes),
                "size": len(config_bytes),
            },
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest, "size": self._size(digest)}
                for digest in digests
            ],
        }
        return config_bytes, json.dumps(manifest, sort_keys=True).encode()

    def _size(self, digest: str) -> int:
        return self._blobs.path(digest).stat().st_size

    def _contents(
        self,
        image: PinnedImage,
        cached_entry: Callable[[str], _Layer | None],
        arrivals: LayerArrivals | None = None,
    ) -> list[_Layer | LayerContents]:
        """What each layer of ``image`` contributes: ``cached_entry``'s part of it for a
        layer in the cache, all of it for one read now."""
        digests = list(image.layers)
        known: dict[str, _Layer | LayerContents] = {}
        missing = []
        for digest in dict.fromkeys(digests):
            cached = cached_entry(digest)
            if cached is None:
                missing.append(digest)
            else:
                known[digest] = cached
        if missing:
            threads = min(len(missing), _MAX_THREADS, os.cpu_count() or 1)
            plain, largest = child_layer(missing, arrivals)
            children: dict[str, ChildRead] = {}
            if len(plain) == len(missing):
                # the walks are all the work: side by side in this process they would only
                # contend for the interpreter; the largest goes to a process of its own
                threads = 1
                if largest is not None:
                    try:
                        children[largest] = ChildRead(self._blobs, plain[largest], largest)
                    except OSError as error:
                        logger.warning(
                            "no process to read layer %s (%s): read here", largest, error
                        )
            with (
                _quick_switching(),
                ThreadPoolExecutor(
                    threads,
                    thread_name_prefix="layer",
                    initializer=_behind_children if children else None,
                ) as pool,
            ):
                blobs = image.layout / "blobs"  # the cache's for a fetched image
                read = functools.partial(
                    self._read_once, blobs=blobs, arrivals=arrivals, children=children
                )
                # the child's layer last: the others are read while it reads
                ordered = sorted(missing, key=lambda digest: digest in children)
                try:
                    for contents in pool.map(read, ordered):
                        known[contents.digest] = contents
                except BaseException:
                    pool.shutdown(wait=False, cancel_futures=True)  # the others: not needed
                    raise
                finally:
                    for child in children.values():  # done, or not needed after an error
                        child.cancel()
        logger.info(
            "layers of %s: %d read, %d from cache",
            image.digest,
            len(missing),
            len(known) - len(missing),
        )
        return [known[digest] for digest in digests]

    def _read_once(
        self,
        digest: str,
        blobs: Path,
        arrivals: LayerArrivals | None = None,
        children: dict[str, ChildRead] | None = None,
    ) -> LayerContents:
        child = (children or {}).get(digest)
        with _reading_guard:
            lock = _reading.setdefault(digest, threading.Lock())
        with lock:
            cached = self._cache.get(digest)  # read meanwhile by another thread
            if cached is not None:
                if child is not None:
                    child.cancel()
                return cached
            contents = child.result() if child is not None else None
            if contents is None:
                contents = self._read(digest, blobs, arrivals)
            self._cache.put(contents)
        with _reading_guard:
            _reading.pop(digest, None)
        return contents

    def _read(self, digest: str, blobs: Path, arrivals: LayerArrivals | None) -> LayerContents:
        """Read the layer ``digest`` from the blobs directory of an image's layout, or as
        it arrives there."""
        arriving = arrivals.follow(digest) if arrivals is not None else None
        if arriving is None and arrivals is not None and not arrivals.wait_for(digest):
            raise _NeverArrived(digest)
        with arriving or contextlib.nullcontext():
            blob = arriving or blobs / "sha256" / digest_hex(digest)
            return read_keeping_evidence(self._blobs, blob, digest)


class _QuickSwitching:
    """While layers are read, the interpreter hands the GIL over every 0.5 ms, not 5 ms.

    The walk of a layer's tar holds the GIL in long stretches; the threads beside it
    (the download storing the blob, the feeder of the inflating child) each need it for
    a moment per chunk and would wait out the whole interval every time: on the 1 GB
    bench image the layers were read in 3.9-5.1 s instead of 5.3-5.7 s with the default.
    The interval is the process's: it is restored once no layer is being read.
    """

    INTERVAL = 0.0005  # seconds

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._readers = 0
        self._previous = sys.getswitchinterval()

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._readers == 0:
                self._previous = sys.getswitchinterval()
                sys.setswitchinterval(self.INTERVAL)
            self._readers += 1
        try:
            yield
        finally:
            with self._lock:
                self._readers -= 1
                if self._readers == 0:
                    sys.setswitchinterval(self._previous)


_quick_switching = _QuickSwitching()


def _behind_children() -> None:
    """A thread reading layers beside a child process gives way to it: the child's read
    (the largest layer) is the longest, and while this process also reads, both cores
    are busy with two walks and the hashing threads beside each. Linux sets a thread's
    own niceness; the threads it starts (hashing) inherit it, and all end with the reads."""
    thread = threading.get_native_id()
    with contextlib.suppress(OSError):
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + _BEHIND_CHILDREN
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, 19))


def _layer_commands(config: ImageConfig, count: int) -> list[str]:
    """The ``created_by`` of each layer: the history entries that made a layer, in order
    (history that does not match the layers, or none, leaves them empty)."""
    commands = [entry.created_by for entry in config.history if not entry.empty_layer]
    if len(commands) != count:
        return [""] * count
    return commands
