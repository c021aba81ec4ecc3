"""The scan orchestrator: reference -> pinned image -> catalog (cached by digest) ->
findings, the first stages of :class:`service.pipeline.Pipeline`, and ``tollgate sbom``.

It receives every collaborator (image fetcher, engines, caches, the catalog sink and the
matcher) and builds none of them. See :mod:`service.wiring` for the composition root.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import service
from service.catalog.cache import CatalogCache, DocumentKey
from service.catalog.interface import Cataloger
from service.errors import ConfigurationError, EngineError
from service.image.download import LayerDownload, Pinning
from service.image.model import ImageReference, PinnedImage, Platform
from service.sbom import SbomFormat
from service.sbom.writer import SbomWriter

if TYPE_CHECKING:  # models load when a catalog is read or made, not for a cached SBOM
    from service.catalog.model import Catalog
    from service.layers.analyzer import LayerAnalyzer
    from service.layers.model import LayerAnalysis
    from service.vulndb.model import Finding

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
# How much lower than the engine's the priority of work done alongside it is.
_SIDE_WORK_NICENESS = 10
# How many top layers of an image may hold the packages it adds to a base whose SBOM
# was rendered (see Orchestrator._extended).
_MAX_ADDED_LAYERS = 3
_LOWEST_PRIORITY = 19


class ImageSource(Protocol):
    """What the orchestrator needs from stage 1 (``service.acquire.fetcher``)."""

    def pinning(
        self,
        ref: ImageReference,
        platform: Platform | None = None,
        progress: Progress | None = None,
        *,
        in_place: bool = False,
    ) -> AbstractContextManager[Pinning]:
        """The image pinned by digest, its layers arriving while the block runs (or, with
        ``in_place``, read where they lie when they lie on disk)."""
        ...

    def fetch_all_platforms(self, ref: ImageReference) -> list[PinnedImage]: ...


class FindingMatcher(Protocol):
    def __call__(self, catalog: Catalog) -> list[Finding]: ...


class CatalogSink(Protocol):
    """Where scanned catalogs and their current findings are recorded, so that
    re-evaluation after a database update reports only what changed."""

    def save(self, catalog: Catalog) -> None: ...

    def record(self, digest: str, findings: list[Finding]) -> None: ...


@dataclass
class Timings:
    fetch: float = 0.0
    catalog: float = 0.0
    layers: float = 0.0
    match: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 4) for k, v in vars(self).items()}


@dataclass(frozen=True)
class CatalogOutcome:
    catalog: Catalog
    image: PinnedImage
    cached: bool
    timings: Timings


@dataclass(frozen=True)
class ScanOutcome:
    catalog: Catalog
    findings: list[Finding]
    image: PinnedImage
    cached: bool
    timings: Timings = field(default_factory=Timings)
    layers: LayerAnalysis | None = None  # None when no layer analyzer was given


class Orchestrator:
    def __init__(
        self,
        *,
        source: ImageSource,
        catalogers: Mapping[str, Cataloger],
        default_engine: str,
        cache: CatalogCache,
        matcher: FindingMatcher | None = None,
        sink: CatalogSink | None = None,
        writer: SbomWriter | None = None,
        layers: LayerAnalyzer | None = None,
    ) -> None:
        """``writer``: who makes SBOM documents (default: this process, as they are
        asked for); ``layers`` analyses a scanned image's layers (efficiency, secrets
        left in them)."""
        self._source = source
        self._layers = layers
        self._catalogers = catalogers
        self._default_engine = default_engine
        self._cache = cache
        self._matcher = matcher
        self._sink = sink
        self._writer = writer or SbomWriter()

    def cataloger(self, engine: str | None) -> Cataloger:
        name = engine or self._default_engine
        try:
            return self._catalogers[name]
        except KeyError:
            raise ConfigurationError(
                f"unknown engine {name!r}",
                hint=f"choose one of {', '.join(sorted(self._catalogers))}",
            ) from None

    def catalog(
        self,
        ref: ImageReference,
        *,
        platform: Platform | None = None,
        engine: str | None = None,
        progress: Progress | None = None,
    ) -> CatalogOutcome:
        """Catalog ``ref``; an unchanged digest already catalogued is served from cache.

        The image is always resolved and pinned (blobs already in the blob
        cache are not downloaded again), so the result names what is there now.
        """
        cataloger = self.cataloger(engine)
        with self._pinning(ref, platform, progress, cataloger) as (pinning, timings):
            return self._catalog_pinned(pinning.image, cataloger, timings, pinning.layers)

    def sbom_of(
        self,
        ref: ImageReference,
        fmt: SbomFormat,
        *,
        platform: Platform | None = None,
        engine: str | None = None,
        progress: Progress | None = None,
    ) -> str:
        """The SBOM of ``ref``. One rendered before for the same digest, name, engine
        version and format is answered as it was, without reading its catalog."""
        cataloger = self.cataloger(engine)
        with self._pinning(ref, platform, progress, cataloger) as (pinning, timings):
            image = pinning.image
            version = cataloger.known_version()
            if version is not None:
                key = DocumentKey(
                    image.digest,
                    str(image.platform),
                    image.display_name,
                    cataloger.name,
                    version,
                    fmt.value,
                )
                if (document := self._cache.get_document(key)) is not None:
                    log.info("SBOM of %s served from cache", image.digest)
                    return document
            outcome = self._catalog_pinned(image, cataloger, timings, pinning.layers)
        return self.sbom(outcome, fmt)

    @contextlib.contextmanager
    def _pinning(
        self,
        ref: ImageReference,
        platform: Platform | None,
        progress: Progress | None,
        cataloger: Cataloger,
    ) -> Iterator[tuple[Pinning, Timings]]:
        timings = Timings()
        started = time.perf_counter()
        in_place = cataloger.reads_layers_in_place
        with self._source.pinning(ref, platform, progress, in_place=in_place) as pinning:
            timings.fetch = time.perf_counter() - started  # pinned; layers may still arrive
            yield pinning, timings

    def catalog_all_platforms(
        self, ref: ImageReference, *, engine: str | None = None
    ) -> list[CatalogOutcome]:
        """One catalog per runnable platform of an index (one for a plain image)."""
        cataloger = self.cataloger(engine)
        return [
            self._catalog_pinned(image, cataloger, Timings())
            for image in self._source.fetch_all_platforms(ref)
        ]

    def _catalog_pinned(
        self,
        image: PinnedImage,
        cataloger: Cataloger,
        timings: Timings,
        layers: LayerDownload | None = None,
    ) -> CatalogOutcome:
        """Catalog ``image``; ``layers`` are its layers still arriving in the cache (an
        engine that reads layers as they arrive starts at once, others once all are in)."""
        platform_name = str(image.platform)
        version = cataloger.known_version()
        if version is not None:
            cached = self._cache.get(image.digest, platform_name, cataloger.name, version)
            if cached is not None:
                log.info("catalog of %s served from cache", image.digest)
                return CatalogOutcome(cached.for_image(image), image, True, timings)
        # Asking a new engine binary its version (nothing can be cached under an unknown
        # version) overlaps the work before the engine's run, which needs it: it is a
        # subprocess this process only waits for, and takes the GIL from no one.
        side_work: list[Callable[[], object]] = [cataloger.version] if version is None else []
        started = time.perf_counter()
        if layers is not None and not cataloger.reads_layers_as_they_arrive:
            layers.finish()
            layers = None
        helpers = [threading.Thread(target=_aside, args=(work,), daemon=True) for work in side_work]
        try:
            for helper in helpers:
                helper.start()
            try:
                cataloger.prepare(image, layers)
                catalog = cataloger.catalog(image, layers)
            except EngineError:
                if layers is not None:  # a failed download made the engine fail: raise that
                    layers.abandon()
                    layers.finish()
                raise
            if layers is not None:
                layers.finish()  # every layer the engine read was verified
        finally:
            for helper in helpers:
                helper.join()
        timings.catalog = time.perf_counter() - started
        self._cache.put(catalog, platform_name)
        return CatalogOutcome(catalog, image, False, timings)

    def sbom(self, outcome: CatalogOutcome, fmt: SbomFormat) -> str:
        """The SBOM of a catalog; an identical one rendered before is served from cache,
        and one rendered for another image with the same packages is re-subjected."""
        catalog, created = outcome.catalog, outcome.image.config.created
        key = DocumentKey.of(catalog, fmt.value)
        cached = self._cache.get_document(key)
        if cached is not None:
            return cached
        same_packages = DocumentKey.of_contents(catalog, fmt.value, service.__version__)
        template = self._cache.get_document(same_packages)
        text = (
            self._writer.resubjected(template, catalog, fmt, created=created) if template else None
        )
        if text is None:
            text = self._extended(outcome, fmt) or self._writer.render(
                catalog, fmt, created=created
            )
            self._cache.put_document(same_packages, text)
        self._cache.put_document(key, text)
        return text

    def _extended(self, outcome: CatalogOutcome, fmt: SbomFormat) -> str | None:
        """The SBOM of an image that adds packages in its top layers to a base whose SBOM
        was rendered: that document with the added packages put in. The base's packages
        are those found only in the layers below (the lookup succeeds only when they are
        exactly the base's, distro and engine run included)."""
        catalog, diff_ids = outcome.catalog, outcome.image.config.diff_ids
        if not all(package.locations for package in catalog.packages):
            return None  # where such a package comes from is not known
        for top in range(1, min(_MAX_ADDED_LAYERS, len(diff_ids) - 1) + 1):
            lower = set(diff_ids[:-top])
            below = tuple(
                package
                for package in catalog.packages
                if all(location.layer in lower for location in package.locations)
            )
            if not below or len(below) == len(catalog.packages):
                continue
            base = catalog.model_copy(update={"packages": below})
            key = DocumentKey.of_contents(base, fmt.value, service.__version__)
            template = self._cache.get_document(key)
            if template is not None:
                kept = {id(package) for package in below}
                added = tuple(p for p in catalog.packages if id(p) not in kept)
                created = outcome.image.config.created
                return self._writer.extended(template, catalog, added, fmt, created=created)
        return None

    def scan(
        self,
        ref: ImageReference,
        *,
        platform: Platform | None = None,
        engine: str | None = None,
        progress: Progress | None = None,
    ) -> ScanOutcome:
        """Catalog, analyse the layers, store and match: the whole pipeline up to the
        policy decision. The layers are analysed while the engine runs, once they are in."""
        cataloger = self.cataloger(engine)
        with self._pinning(ref, platform, progress, cataloger) as (pinning, timings):
            beside = _LayerAnalysis(self._layers, pinning) if self._layers else None
            try:
                outcome = self._catalog_pinned(pinning.image, cataloger, timings, pinning.layers)
            except BaseException:
                if beside is not None:
                    beside.cancel()
                raise
            analysis = beside.result() if beside else None
        if beside is not None:
            timings.layers = beside.seconds
        if self._sink is not None:
            self._sink.save(outcome.catalog)
        findings: list[Finding] = []
        if self._matcher is not None:
            started = time.perf_counter()
            findings = self._matcher(outcome.catalog)
            outcome.timings.match = time.perf_counter() - started
            if self._sink is not None:
                self._sink.record(outcome.catalog.image.digest, findings)
        return ScanOutcome(
            outcome.catalog, findings, outcome.image, outcome.cached, outcome.timings, analysis
        )


class _LayerAnalysis:
    """The layer analysis of a pinned image, in a thread that starts once its layers are
    in the blob cache or known to be read in place (the engine subprocess runs
    meanwhile)."""

    def __init__(self, analyzer: LayerAnalyzer, pinning: Pinning) -> None:
        self._analyzer = analyzer
        self._pinning = pinning
        self._analysis: LayerAnalysis | None = None
        self._error: BaseException | None = None
        self._cancelled = threading.Event()
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="layer-analysis", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """The scan failed: analyse nothing (not waited for)."""
        self._cancelled.set()

    def _run(self) -> None:
        self._pinning.layers.wait()
        if self._cancelled.is_set():
            return
        started = time.perf_counter()
        try:
            self._analysis = self._analyzer.analyse(self._pinning.image, self._pinning.layers)
        except BaseException as error:  # re-raised in the scan's thread by result()
            self._error = error
        self.seconds = time.perf_counter() - started

    def result(self) -> LayerAnalysis:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._analysis is not None
        return self._analysis


def _aside(work: Callable[[], object]) -> None:
    """Run side work without slowing the engine down, and without failing the scan.

    Its thread gets a lower CPU priority than the engine (Linux schedules each thread
    by its own nice value, and processes it starts inherit it): on a busy machine the
    engine, which the user waits for, goes first. Side work may fail (e.g. a missing
    engine): the engine run itself reports that.
    """
    with contextlib.suppress(OSError):
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread) + _SIDE_WORK_NICENESS
        os.setpriority(os.PRIO_PROCESS, thread, min(niceness, _LOWEST_PRIORITY))
    try:
        work()
    except Exception as error:
        log.debug("side work %s failed: %s", getattr(work, "__name__", work), error)
