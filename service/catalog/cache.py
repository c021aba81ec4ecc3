"""Catalogs already computed, keyed by (image digest, platform, engine, engine version).

An unchanged digest is never catalogued twice by the same engine version: the
second SBOM of it is served from here. Files are written atomically.
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

    def _path(self, digest: str, platform: str, engine: str, engine_version: str) -> Path:
        key = hashlib.sha256(f"{digest}|{platform}|{engine}|{engine_version}".encode()).hexdigest()
        return self._root / "catalogs" / key[:2] / f"{key}.json"

    def get(self, digest: str, platform: str, engine: str, engine_version: str) -> Catalog | None:
        path = self._path(digest, platform, engine, engine_version)
        try:
            return Catalog.model_validate_json(path.read_bytes())
        except FileNotFoundError:
            return None
        except ValidationError:
            log.warning("discarding unreadable cached catalog %s", path)
            path.unlink(missing_ok=True)
            return None

    def put(self, catalog: Catalog, platform: str) -> None:
        path = self._path(catalog.image.digest, platform, catalog.engine, catalog.engine_version)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(catalog.model_dump_json().encode())
        os.replace(tmp, path)
