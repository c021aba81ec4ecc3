"""Results already computed for an image digest: catalogs and rendered SBOMs.

Keyed by (image digest, platform, engine, engine version [, SBOM format]): an
unchanged digest is never catalogued twice by the same engine version, and the
same (deterministic) SBOM is never rendered twice. Files are written atomically.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from service.catalog.model import Catalog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentKey:
    """What a rendered SBOM depends on: the image as named, the engine run, the format."""

    digest: str
    platform: str
    reference: str
    engine: str
    engine_version: str
    fmt: str

    @classmethod
    def of(cls, catalog: Catalog, fmt: str) -> DocumentKey:
        image = catalog.image
        return cls(
            image.digest,
            image.platform,
            image.reference,
            catalog.engine,
            catalog.engine_version,
            fmt,
        )

    @classmethod
    def of_contents(cls, catalog: Catalog, fmt: str, writer_version: str) -> DocumentKey:
        """What an SBOM's package part depends on, whatever the image: the packages and
        distro, the engine run, the format and the version of the writer."""
        contents = catalog.model_dump_json(include={"packages", "distro"}).encode()
        return cls(
            f"contents:{hashlib.sha256(contents).hexdigest()}",
            catalog.image.platform,
            writer_version,
            catalog.engine,
            catalog.engine_version,
            fmt,
        )


class CatalogCache:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, kind: str, *parts: str) -> Path:
        key = hashlib.sha256("|".join(parts).encode()).hexdigest()
        return self._root / kind / key[:2] / key

    def get(self, digest: str, platform: str, engine: str, engine_version: str) -> Catalog | None:
        # The catalog models (pydantic) load only here: a cached SBOM document needs none.
        from pydantic import ValidationError

        from service.catalog.model import Catalog

        path = self._path("catalogs", digest, platform, engine, engine_version)
        try:
            return Catalog.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            log.warning("discarding unreadable cached catalog %s", path)
            path.unlink(missing_ok=True)
            return None

    def put(self, catalog: Catalog, platform: str) -> None:
        image = catalog.image
        path = self._path(
            "catalogs", image.digest, platform, catalog.engine, catalog.engine_version
        )
        _write_atomically(path, catalog.model_dump_json().encode())

    def get_document(self, key: DocumentKey) -> str | None:
        """A rendered SBOM of exactly this image, reference, engine run and format."""
        try:
            return self._path("documents", *astuple(key)).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def put_document(self, key: DocumentKey, text: str) -> None:
        _write_atomically(self._path("documents", *astuple(key)), text.encode())


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
