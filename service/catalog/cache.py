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
from pathlib import Path

from pydantic import ValidationError

from service.catalog.model import Catalog

log = logging.getLogger(__name__)


class CatalogCache:
    def __init__(self, root: Path) -> None:
        self._root = root

    def _path(self, kind: str, *parts: str) -> Path:
        key = hashlib.sha256("|".join(parts).encode()).hexdigest()
        return self._root / kind / key[:2] / key

    def get(self, digest: str, platform: str, engine: str, engine_version: str) -> Catalog | None:
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

    def get_document(self, catalog: Catalog, fmt: str) -> str | None:
        """A rendered SBOM of exactly this catalog (reference included) in ``fmt``."""
        try:
            return self._document_path(catalog, fmt).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def put_document(self, catalog: Catalog, fmt: str, text: str) -> None:
        _write_atomically(self._document_path(catalog, fmt), text.encode())

    def _document_path(self, catalog: Catalog, fmt: str) -> Path:
        image = catalog.image
        return self._path(
            "documents",
            image.digest,
            image.platform,
            image.reference,
            catalog.engine,
            catalog.engine_version,
            fmt,
        )


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
