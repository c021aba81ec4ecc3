"""The cataloger contract: an engine that lists the packages in a pinned image."""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from service.image.download import LayerArrivals
from service.image.model import PinnedImage

if TYPE_CHECKING:  # the catalog models load with an engine's report parser, not before
    from service.catalog.model import Catalog, Package

log = logging.getLogger(__name__)


class Cataloger(ABC):
    """Lists the packages of an image. One implementation module per engine.

    Implementations raise :class:`service.errors.EngineError` subclasses: not
    installed, timed out, failed, or printed something unreadable.
    """

    name: str
    # True for engines that read the layers one at a time, as a registry client does:
    # they start before every layer is cached and are given the layers' arrivals.
    reads_layers_as_they_arrive = False
    # True for engines that, given the arrivals, need a layer already on disk (an OCI
    # layout, an uncompressed archive) read in place rather than copied into the cache.
    reads_layers_in_place = False

    def __init__(self, memo_dir: Path | None = None) -> None:
        self._version: str | None = None
        self._memo_dir = memo_dir
        self._version_lock = threading.Lock()  # one ask at a time

    def version(self) -> str:
        """The engine's version: asked once per binary (path, size, mtime), then remembered."""
        with self._version_lock:
            if self._version is None:
                self._version = self.known_version() or self._ask_and_remember()
            return self._version

    def known_version(self) -> str | None:
        """The version if already known or remembered, without running the engine."""
        if self._version is not None:
            return self._version
        memo = self._memo()
        if memo is None:
            return None
        try:
            return memo.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _ask_and_remember(self) -> str:
        version = self._read_version()
        memo = self._memo()
        if memo is not None:
            try:
                memo.parent.mkdir(parents=True, exist_ok=True)
                memo.write_text(version, encoding="utf-8")
            except OSError as error:
                log.debug("cannot remember %s version: %s", self.name, error)
        return version

    def _memo(self) -> Path | None:
        if self._memo_dir is None:
            return None
        binary = Path(self._binary())
        stat = binary.stat()
        identity = f"{binary.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        return self._memo_dir / f"{self.name}-{hashlib.sha256(identity.encode()).hexdigest()[:24]}"

    @abstractmethod
    def _binary(self) -> str:
        """Path of the engine binary (raises EngineNotFoundError when absent)."""

    @abstractmethod
    def _read_version(self) -> str:
        """Ask the engine for its version."""

    def prepare(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> None:  # noqa: B027 - an optional step: most engines do all their work in the subprocess
        """The cataloger's own Python work for ``image`` before its engine runs (reading
        the layers' evidence), done first so that work meant to overlap the engine
        subprocess does not compete with it. ``arrivals`` as for :meth:`catalog`."""

    @abstractmethod
    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        """Scan ``image.layout`` (an OCI layout naming exactly ``image.digest``).

        ``arrivals`` (only for engines that read layers as they arrive): a layer not yet
        in the cache is waited for through it, or read in place (for engines that do);
        without it every layer is there.
        """


def sorted_packages(packages: Iterable[Package]) -> tuple[Package, ...]:
    """Packages in the catalog's canonical order: by key, then by where they were found."""
    return tuple(
        sorted(
            packages,
            key=lambda p: (
                p.key,
                p.name,
                p.version,
                [(loc.path, loc.layer or "") for loc in p.locations],
            ),
        )
    )
