"""Read and append cosign ``.sig``/``.att`` attachments through the Registry protocol."""

from __future__ import annotations

import logging
from collections.abc import Callable

from service.errors import ImageError, ManifestUnknownError, VerificationError
from service.image.digest import sha256_digest
from service.registry.interface import Registry
from service.signing.cosign_layout import (
    OCI_MANIFEST,
    Kind,
    LayerDescriptor,
    Limits,
    attachment_tag,
    config_blob,
    manifest_bytes,
    parse_layers,
)

logger = logging.getLogger(__name__)


class AttachmentStore:
    """Cosign attachments of images in one registry."""

    def __init__(self, registry: Registry, limits: Limits | None = None) -> None:
        self._registry = registry
        self.limits = limits or Limits()

    def layers(self, repository: str, image_digest: str, kind: Kind) -> list[LayerDescriptor]:
        """The attachment manifest's layers; empty when the image has none."""
        tag = attachment_tag(image_digest, kind)
        try:
            manifest = self._registry.get_manifest(repository, tag, accept=[OCI_MANIFEST])
        except ManifestUnknownError:
            return []
        except ImageError as exc:  # oversized, wrong media type, digest mismatch
            raise VerificationError(f"cannot read {repository}:{tag}: {exc}") from exc
        return parse_layers(manifest.content, self.limits)

    def payload(self, repository: str, layer: LayerDescriptor) -> bytes:
        """A layer's blob, size-capped and digest-verified."""
        try:
            data = self._registry.get_blob(
                repository, layer.digest, max_size=self.limits.max_payload_bytes
            )
        except ImageError as exc:
            raise VerificationError(f"signature layer {layer.digest}: {exc}") from exc
        if len(data) != layer.size:
            raise VerificationError(
                f"signature layer {layer.digest} is {len(data)} bytes, "
                f"but its descriptor says {layer.size}"
            )
        return data

    def attach(
        self,
        repository: str,
        image_digest: str,
        kind: Kind,
        *,
        media_type: str,
        payload: bytes,
        annotations: dict[str, str],
        duplicate: Callable[[LayerDescriptor], bool] | None = None,
    ) -> bool:
        """Append a layer to the image's attachment manifest.

        Returns False, changing nothing, when an identical layer (or one ``duplicate``
        accepts, e.g. the same payload signed by the same key) is already there.
        """
        layer = LayerDescriptor(media_type, sha256_digest(payload), len(payload), annotations)
        existing = self.layers(repository, image_digest, kind)
        if layer in existing or (duplicate is not None and any(map(duplicate, existing))):
            logger.info("%s@%s already has this %s", repository, image_digest, kind.value)
            return False
        layers = [*existing, layer]
        self._registry.put_blob(repository, payload)
        config = config_blob(layers)
        self._registry.put_blob(repository, config)
        tag = attachment_tag(image_digest, kind)
        self._registry.put_manifest(repository, tag, manifest_bytes(config, layers), OCI_MANIFEST)
        logger.info("stored %s:%s with %d layer(s)", repository, tag, len(layers))
        return True
