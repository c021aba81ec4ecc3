"""The OCI manifests cosign stores next to an image: ``sha256-<hex>.sig`` and ``.att``.

Byte layout follows go-containerregistry as cosign uses it: an OCI image manifest whose
config is the ``ConfigFile`` of an empty image with one zero-time history entry and one
diff_id per layer, and one layer per signature (payload blob + annotations).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum

from service.errors import VerificationError
from service.image.digest import sha256_digest
from service.signing.payload import go_json

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
SIMPLE_SIGNING_MEDIA_TYPE = "application/vnd.dev.cosign.simplesigning.v1+json"
DSSE_MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
PREDICATE_TYPE_ANNOTATION = "predicateType"
_ZERO_TIME = "0001-01-01T00:00:00Z"


class Kind(StrEnum):
    """Which cosign attachment: the tag suffix."""

    SIGNATURE = "sig"
    ATTESTATION = "att"


def attachment_tag(image_digest: str, kind: Kind) -> str:
    algorithm, _, hex_digest = image_digest.partition(":")
    return f"{algorithm}-{hex_digest}.{kind.value}"


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile registry from exhausting the verifier."""

    max_layers: int = 256
    max_payload_bytes: int = 32 << 20
    max_manifest_bytes: int = 4 << 20


@dataclass(frozen=True)
class LayerDescriptor:
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    def to_json_object(self) -> dict[str, object]:
        entry: dict[str, object] = {
            "mediaType": self.media_type,
            "size": self.size,
            "digest": self.digest,
        }
        if self.annotations:
            entry["annotations"] = {key: self.annotations[key] for key in sorted(self.annotations)}
        return entry


def config_blob(layers: list[LayerDescriptor]) -> bytes:
    """The config cosign writes: the layers' digests as diff_ids (payloads are uncompressed)."""
    return go_json(
        {
            "architecture": "",
            "created": _ZERO_TIME,
            "history": [{"created": _ZERO_TIME} for _ in layers],
            "os": "",
            "rootfs": {"type": "layers", "diff_ids": [layer.digest for layer in layers]},
            "config": {},
        }
    )


def manifest_bytes(config: bytes, layers: list[LayerDescriptor]) -> bytes:
    return go_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "size": len(config),
                "digest": sha256_digest(config),
            },
            "layers": [layer.to_json_object() for layer in layers],
        }
    )


def _descriptor(entry: object, limits: Limits) -> LayerDescriptor:
    if not isinstance(entry, dict):
        raise VerificationError("a signature manifest layer is not a JSON object")
    media_type, digest, size = entry.get("mediaType"), entry.get("digest"), entry.get("size")
    annotations = entry.get("annotations") or {}
    if not isinstance(media_type, str) or not isinstance(digest, str):
        raise VerificationError("a signature manifest layer lacks mediaType or digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise VerificationError(f"signature layer {digest} has an invalid size")
    if size > limits.max_payload_bytes:
        raise VerificationError(
            f"signature layer {digest} is {size} bytes, over the "
            f"{limits.max_payload_bytes}-byte limit; refusing to fetch it"
        )
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        raise VerificationError(f"signature layer {digest} has non-string annotations")
    return LayerDescriptor(media_type, digest, size, dict(annotations))


def parse_layers(content: bytes, limits: Limits) -> list[LayerDescriptor]:
    """The layers of a ``.sig``/``.att`` manifest, refusing malformed or oversized ones."""
    if len(content) > limits.max_manifest_bytes:
        raise VerificationError(
            f"the signature manifest is {len(content)} bytes, over the "
            f"{limits.max_manifest_bytes}-byte limit"
        )
    try:
        document = json.loads(content)
    except ValueError as exc:
        raise VerificationError("the signature manifest is not JSON") from exc
    layers = document.get("layers") if isinstance(document, dict) else None
    if not isinstance(layers, list):
        raise VerificationError("the signature manifest has no layers list")
    if len(layers) > limits.max_layers:
        raise VerificationError(
            f"the signature manifest has {len(layers)} layers, over the limit of "
            f"{limits.max_layers}; refusing to verify it"
        )
    return [_descriptor(entry, limits) for entry in layers]
