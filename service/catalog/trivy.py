"""Trivy as a cataloger, offline.

Tollgate cannot download Trivy's vulnerability database, so the cataloger runs
Trivy offline with only the license scanner: that lists every package (with
``--list-all-pkgs``) without needing the database. Its report is parsed by
:mod:`service.catalog.trivy_report`, which loads only once Trivy has run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from service.catalog.interface import Cataloger
from service.catalog.process import EngineProcess, resolve_binary
from service.image.download import LayerArrivals
from service.image.model import PinnedImage
from service.settings import Settings

if TYPE_CHECKING:
    from service.catalog.model import Catalog

INSTALL_HINT = "put trivy on PATH or set TOLLGATE_TRIVY_PATH"


class TrivyCataloger(Cataloger):
    """Catalogs an OCI layout with a local Trivy binary, offline and without its DB."""

    name = "trivy"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.blob_cache_dir / "engines")
        self._binary_setting = settings.trivy_path
        self._timeout = settings.engine_timeout
        self._disk_limit = int(settings.engine_max_disk_gb * 2**30)

    def _process(self) -> EngineProcess:
        return EngineProcess(
            "trivy", timeout=self._timeout, hint=INSTALL_HINT, disk_limit=self._disk_limit
        )

    def _binary(self) -> str:
        return resolve_binary("trivy", self._binary_setting, hint=INSTALL_HINT)

    def _read_version(self) -> str:
        from service.catalog import trivy_report

        with self._process() as process:
            raw = process.run([self._binary(), "version", "--format", "json"])
        return trivy_report.read_version(raw)

    def catalog(self, image: PinnedImage, arrivals: LayerArrivals | None = None) -> Catalog:
        from service.catalog import trivy_report

        with self._process() as process:
            raw = process.run(
                [
                    self._binary(),
                    "image",
                    "--input",
                    str(image.layout),
                    "--platform",
                    str(image.platform),
                    *listing_arguments(process.cache_dir),
                ]
            )
        return trivy_report.read_catalog(raw, image, engine_version=self.version())


def listing_arguments(cache_dir: Path) -> list[str]:
    """How Trivy is asked for every package, offline and without its vulnerability DB."""
    return [
        "--format",
        "json",
        "--list-all-pkgs",
        "--scanners",
        "license",
        "--offline-scan",
        "--skip-db-update",
        "--skip-java-db-update",
        "--cache-dir",
        str(cache_dir),
        "--quiet",
    ]
