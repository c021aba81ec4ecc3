"""Syft's catalog of an image from its layers' evidence (:mod:`service.layers.evidence`).

Syft catalogues the evidence image (each real layer's evidence as one layer); the
locations it reports name evidence layers, which are mapped back to the real layers
they stand for, and the catalog becomes the real image's. Layers already analysed cost
nothing: an image that adds one layer to an analysed base reads only that layer.
"""

from __future__ import annotations

from service.catalog.model import Catalog, Location
from service.image.model import PinnedImage
from service.layers.analyzer import EvidenceImage


def restored(catalog: Catalog, evidence: EvidenceImage, image: PinnedImage) -> Catalog:
    """``catalog`` of ``evidence`` as the catalog of the real ``image``."""
    packages = tuple(
        package.model_copy(
            update={
                "locations": tuple(
                    sorted(
                        (
                            Location(path=loc.path, layer=evidence.layers.get(loc.layer, loc.layer))
                            if loc.layer is not None
                            else loc
                            for loc in package.locations
                        ),
                        key=lambda loc: (loc.path, loc.layer or ""),
                    )
                )
            }
        )
        for package in catalog.packages
    )
    return catalog.model_copy(update={"packages": packages}).for_image(image)
