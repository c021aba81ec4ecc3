"""Stage 3: SBOMs (CycloneDX 1.6 JSON, SPDX 2.3 JSON) from a catalog, byte-for-byte
reproducible: the same catalog and creation time always render the same document."""

from __future__ import annotations

import gc
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a cached SBOM is served without loading the catalog models
    from service.catalog.model import Catalog, Package


class SbomFormat(StrEnum):
    CYCLONEDX_JSON = "cyclonedx-json"
    SPDX_JSON = "spdx-json"

    @property
    def media_type(self) -> str:
        return _MEDIA_TYPES[self]


_MEDIA_TYPES = {
    SbomFormat.CYCLONEDX_JSON: "application/vnd.cyclonedx+json",
    SbomFormat.SPDX_JSON: "application/spdx+json",
}


_IMPORTED: set[SbomFormat] = set()


def writer_imported(fmt: SbomFormat) -> bool:
    """Whether this process imported the writer of ``fmt`` (:func:`import_writer`)."""
    return fmt in _IMPORTED


def import_writer(fmt: SbomFormat) -> None:
    """Import the writer of ``fmt`` (cyclonedx-python-lib and its compiled schema, or
    spdx-tools: ~0.1 s, ~9 MiB) and freeze what that built out of the garbage collector's
    sight: it lives as long as the process, and every later collection would walk it
    again. The SBOM command's writer child does this as it starts
    (:mod:`service.sbom.writer`), the command itself only when it makes a document
    without the child, a resident process (:mod:`service.cli.resident`) before it
    serves. Once per process."""
    if fmt in _IMPORTED:
        return
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from service.sbom import cyclonedx

        cyclonedx.schema_validator()  # compiled once, as the first document will need it
    else:
        from service.sbom import spdx  # noqa: F401
    gc.freeze()
    _IMPORTED.add(fmt)


def resubjected(
    template: str, catalog: Catalog, fmt: SbomFormat, *, created: datetime | None = None
) -> str | None:
    """``template``, the SBOM rendered for another image with exactly ``catalog``'s
    packages, distro and engine run, made the SBOM of ``catalog``'s image: what
    :func:`render` gives, without building every package again (an image that only adds
    application code to its base). None for a format that is rendered whole."""
    if fmt is SbomFormat.CYCLONEDX_JSON:
        from service.sbom.cyclonedx import resubjected_cyclonedx

        return resubjected_cyclonedx(template, catalog, created=created)
    return None


def extended(
    template: str,
    catalog: Catalog,
    added: tuple[Package, ...],
    fmt: SbomFormat,
    *,
    created: datetime | None = None,
) -> str | None:
    """``template``, the SBOM rendered for a base image whose packages were ``catalog``'s
    but ``added``, made the SBOM of ``catalog``'s image: what :func:`render` gives,
    building only the added packages (an image that adds a layer of packages to its
    base). None when it cannot be done (each format's function says when)."""
    match fmt:
        case SbomFormat.CYCLONEDX_JSON:
            from service.sbom.cyclonedx import extended_cyclonedx

            return extended_cyclonedx(template, catalog, added, created=created)
        case SbomFormat.SPDX_JSON:
            from service.sbom.spdx import extended_spdx

            return extended_spdx(template, catalog, added, created=created)


def render(catalog: Catalog, fmt: SbomFormat, *, created: datetime | None = None) -> str:
    """The catalog as an SBOM; ``created`` is the image config's creation time.

    The writers (slow to import) load on first use.
    """
    match fmt:
        case SbomFormat.CYCLONEDX_JSON:
            from service.sbom.cyclonedx import render_cyclonedx

            return render_cyclonedx(catalog, created=created)
        case SbomFormat.SPDX_JSON:
            from service.sbom.spdx import render_spdx

            return render_spdx(catalog, created=created)
