"""Stage 3: SBOMs (CycloneDX 1.6 JSON, SPDX 2.3 JSON) from a catalog, byte-for-byte
reproducible: the same catalog and creation time always render the same document."""

from __future__ import annotations

import contextlib
import gc
import threading
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


class WriterPreload:
    """The writer of ``fmt`` imported ahead of use, in a thread started at creation.

    cyclonedx-python-lib, spdx-tools and the SPDX license list they load take about a
    tenth of a second to import and ~9 MiB: the SBOM command starts importing the writer
    it needs as it starts fetching, so the imports run while the layers are read (which
    leave the interpreter idle part of the time) instead of after (beside Syft too, when
    an image falls back to it: 9 MiB against its 130-600 MiB). Calling the object
    waits for them before the first document. What the imports built lives as long as
    the process, so it is then frozen out of the garbage collector's sight: otherwise
    every later collection walks those tables again.
    """

    def __init__(self, fmt: SbomFormat) -> None:
        self._fmt = fmt
        self._thread = threading.Thread(
            target=self._import_quietly, name="sbom-writer-import", daemon=True
        )
        self._thread.start()

    def _import_quietly(self) -> None:
        with contextlib.suppress(Exception):  # raised again, where it is reported, by __call__
            self._import()

    def _import(self) -> None:
        if self._fmt is SbomFormat.CYCLONEDX_JSON:
            from service.sbom import cyclonedx  # noqa: F401
        else:
            from service.sbom import spdx  # noqa: F401

    def __call__(self) -> None:
        self._thread.join()
        self._import()  # done by now; raises here what failed in the thread
        gc.freeze()


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
