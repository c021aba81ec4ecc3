"""Test helpers: self-made key-signed Sigstore bundles, published as OCI 1.1 referrers.

No public test data holds a cosign-made *key-signed* bundle, so these are built here
with the ``sigstore-models`` bundle types and a test key, in the layout cosign 3 uses
(``cosign sign --key --new-bundle-format``): a message signature over the image digest,
or a DSSE in-toto statement.  They are NOT cosign output.
"""

from __future__ import annotations

import base64
import hashlib
import json

import sigstore_models.bundle.v1 as bundle_v1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from sigstore_models import intoto
from sigstore_models.common.v1 import (
    HashAlgorithm,
    HashOutput,
    MessageSignature,
    PublicKeyIdentifier,
)

from service.errors import ManifestUnknownError
from service.image.digest import sha256_digest
from service.registry.interface import Registry
from service.signing.bundle import BUNDLE_MEDIA_TYPE, COSIGN_SIGN_PREDICATE_TYPE
from service.signing.cosign_layout import OCI_MANIFEST
from service.signing.dsse import IN_TOTO_PAYLOAD_TYPE, pae

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
STATEMENT_V1 = "https://in-toto.io/Statement/v1"


def _b64(data: bytes) -> bytes:
    """sigstore-models takes bytes fields in their JSON (base64) form."""
    return base64.b64encode(data)


def _material(key: ec.EllipticCurvePrivateKey) -> bundle_v1.VerificationMaterial:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hint = base64.b64encode(hashlib.sha256(der).digest()).decode()
    return bundle_v1.VerificationMaterial(
        public_key=PublicKeyIdentifier(hint=hint), tlog_entries=[]
    )


def message_signature_bundle(key: ec.EllipticCurvePrivateKey, image_digest: str) -> bytes:
    """A bundle whose message signature covers the image's sha256 digest (prehashed)."""
    digest = bytes.fromhex(image_digest.removeprefix("sha256:"))
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    bundle = bundle_v1.Bundle(
        media_type=BUNDLE_MEDIA_TYPE,
        verification_material=_material(key),
        message_signature=MessageSignature(
            message_digest=HashOutput(algorithm=HashAlgorithm.SHA2_256, digest=_b64(digest)),
            signature=_b64(signature),
        ),
    )
    return bundle.model_dump_json(by_alias=True, exclude_none=True).encode()


def statement(
    image_digest: str, predicate_type: str = COSIGN_SIGN_PREDICATE_TYPE, predicate: object = None
) -> bytes:
    """An in-toto v1 statement about the image, as cosign 3 signs images and attests."""
    return json.dumps(
        {
            "_type": STATEMENT_V1,
            "subject": [{"digest": {"sha256": image_digest.removeprefix("sha256:")}}],
            "predicateType": predicate_type,
            "predicate": predicate if predicate is not None else {},
        }
    ).encode()


def dsse_bundle(key: ec.EllipticCurvePrivateKey, payload: bytes) -> bytes:
    """A bundle holding a DSSE envelope signed over the PAE of ``payload``."""
    signature = key.sign(pae(IN_TOTO_PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    bundle = bundle_v1.Bundle(
        media_type=BUNDLE_MEDIA_TYPE,
        verification_material=_material(key),
        dsse_envelope=intoto.Envelope(
            payload=_b64(payload),
            payload_type=IN_TOTO_PAYLOAD_TYPE,
            signatures=[intoto.Signature(sig=_b64(signature), keyid="")],
        ),
    )
    return bundle.model_dump_json(by_alias=True, exclude_none=True).encode()


def push_bundle_manifest(
    registry: Registry, repository: str, subject_digest: str, bundle: bytes
) -> dict[str, object]:
    """Store the bundle as cosign 3 does (OCI manifest, empty config, one bundle layer
    with ``subject``); returns the referrer descriptor an index lists."""
    config = b"{}"
    registry.put_blob(repository, config)
    registry.put_blob(repository, bundle)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE_MEDIA_TYPE,
            "config": {"mediaType": OCI_EMPTY, "digest": sha256_digest(config), "size": 2},
            "layers": [
                {
                    "mediaType": BUNDLE_MEDIA_TYPE,
                    "digest": sha256_digest(bundle),
                    "size": len(bundle),
                }
            ],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject_digest, "size": 2},
        }
    ).encode()
    digest = registry.put_manifest(repository, sha256_digest(manifest), manifest, OCI_MANIFEST)
    return {
        "mediaType": OCI_MANIFEST,
        "digest": digest,
        "size": len(manifest),
        "artifactType": BUNDLE_MEDIA_TYPE,
    }


def add_to_fallback_index(
    registry: Registry, repository: str, subject_digest: str, descriptors: list[dict[str, object]]
) -> None:
    """Append referrer descriptors to the ``sha256-<hex>`` tag schema index (OCI 1.1 §
    "Referrers Tag Schema"), as clients do on registries without the Referrers API."""
    tag = subject_digest.replace(":", "-")
    try:
        existing = json.loads(registry.get_manifest(repository, tag, accept=[OCI_INDEX]).content)
    except ManifestUnknownError:
        existing = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    existing["manifests"].extend(descriptors)
    registry.put_manifest(repository, tag, json.dumps(existing).encode(), OCI_INDEX)


def publish_referrer(
    registry: Registry, repository: str, subject_digest: str, bundle: bytes
) -> None:
    """Push a bundle as a referrer of ``subject_digest`` through the fallback tag."""
    descriptor = push_bundle_manifest(registry, repository, subject_digest, bundle)
    add_to_fallback_index(registry, repository, subject_digest, [descriptor])


def push_test_image(registry: Registry, repository: str, tag: str, label: str = "") -> str:
    """A minimal OCI image (config only, no layers) to sign; ``label`` varies its digest."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"test": label}},
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": registry.put_blob(repository, config),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    return registry.put_manifest(repository, tag, manifest, OCI_MANIFEST)
