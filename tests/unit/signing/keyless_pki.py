"""Test helpers: a SELF-MADE Fulcio-like CA chain, Rekor key and trusted root.

Public test data holds a real cosign keyless ``.sig`` layer (committed under
``tests/fixtures/cosign/sigstore_rs_keyless.*``), but its 2021 certificate predates
Fulcio's OIDC-issuer extension.  To test identity + issuer matching and each failing
check, keyless layers are built here the way cosign 2 writes them (certificate, chain
and Rekor SET bundle annotations; ``rekord`` entry for ``.sig`` layers, ``intoto`` entry
for ``.att`` layers) with a self-made CA and log key.
They are NOT cosign or Sigstore output.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from service.signing import ecdsa
from service.signing.cosign_layout import PREDICATE_TYPE_ANNOTATION, SIGNATURE_ANNOTATION
from service.signing.dsse import Envelope, sign_envelope
from service.signing.keyless_layer import (
    BUNDLE_ANNOTATION,
    CERTIFICATE_ANNOTATION,
    CHAIN_ANNOTATION,
    OIDC_ISSUER_OID,
)

IDENTITY = "builder@example.test"
ISSUER = "https://issuer.example.test"
INTEGRATED = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "self-made.test"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca(
    common_name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, Any] | None
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (_name(common_name), key)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2030, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA384())
    )


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _b64_pem(cert: x509.Certificate) -> str:
    return base64.b64encode(_pem(cert).encode()).decode()


def _sha256(data: bytes) -> dict[str, str]:
    return {"algorithm": "sha256", "value": hashlib.sha256(data).hexdigest()}


@dataclass
class SelfMadeSigstore:
    """A root CA, an intermediate, and a Rekor log key; writes a trusted_root.json."""

    root_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    intermediate_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP384R1())
    )
    rekor_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    def __post_init__(self) -> None:
        self.root = _ca("self-made root", self.root_key, None)
        self.intermediate = _ca(
            "self-made intermediate", self.intermediate_key, (self.root.subject, self.root_key)
        )

    @property
    def log_id(self) -> str:
        der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return hashlib.sha256(der).hexdigest()

    def trusted_root(self, path: Path) -> Path:
        def raw(cert: x509.Certificate) -> dict[str, str]:
            return {
                "rawBytes": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
            }

        rekor_der = self.rekor_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        document = {
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "tlogs": [
                {
                    "baseUrl": "https://rekor.self-made.test",
                    "hashAlgorithm": "SHA2_256",
                    "publicKey": {
                        "rawBytes": base64.b64encode(rekor_der).decode(),
                        "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                        "validFor": {"start": "2024-01-01T00:00:00Z"},
                    },
                    "logId": {"keyId": base64.b64encode(bytes.fromhex(self.log_id)).decode()},
                }
            ],
            "certificateAuthorities": [
                {
                    "subject": {"organization": "self-made.test", "commonName": "self-made"},
                    "uri": "https://fulcio.self-made.test",
                    "certChain": {"certificates": [raw(self.intermediate), raw(self.root)]},
                    "validFor": {"start": "2024-01-01T00:00:00Z"},
                }
            ],
            "ctlogs": [],
            "timestampAuthorities": [],
        }
        path.write_text(json.dumps(document))
        return path

    def leaf(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        identity: str = IDENTITY,
        issuer: str | None = ISSUER,
        not_before: datetime = INTEGRATED - timedelta(minutes=1),
        issued_by: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None = None,
    ) -> x509.Certificate:
        issuer_name, issuer_key = issued_by or (self.intermediate.subject, self.intermediate_key)
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([]))
            .issuer_name(issuer_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(minutes=10))
            .add_extension(x509.KeyUsage(True, *[False] * 8), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), True)
        )
        if issuer is not None:
            builder = builder.add_extension(
                x509.UnrecognizedExtension(x509.ObjectIdentifier(OIDC_ISSUER_OID), issuer.encode()),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    def _logged(self, body: dict[str, Any], log_index: int) -> str:
        """The SET bundle annotation for an entry with ``body``."""
        entry: dict[str, Any] = {
            "body": base64.b64encode(json.dumps(body).encode()).decode(),
            "integratedTime": int(INTEGRATED.timestamp()),
            "logID": self.log_id,
            "logIndex": log_index,
        }
        signed = rfc8785.dumps(entry)
        set_b64 = base64.b64encode(self.rekor_key.sign(signed, ec.ECDSA(hashes.SHA256()))).decode()
        return json.dumps(
            {
                "SignedEntryTimestamp": set_b64,
                "Payload": {
                    "body": entry["body"],
                    "integratedTime": entry["integratedTime"],
                    "logIndex": log_index,
                    "logID": self.log_id,
                },
            },
            separators=(",", ":"),
        )

    def rekor_bundle(
        self, payload: bytes, signature_b64: str, cert: x509.Certificate, log_index: int = 7
    ) -> str:
        """The SET bundle annotation cosign 2 writes for a ``rekord`` entry."""
        body = {
            "apiVersion": "0.0.1",
            "kind": "rekord",
            "spec": {
                "data": {"hash": _sha256(payload)},
                "signature": {
                    "content": signature_b64,
                    "format": "x509",
                    "publicKey": {"content": _b64_pem(cert)},
                },
            },
        }
        return self._logged(body, log_index)

    def intoto_bundle(
        self, envelope: Envelope, cert: x509.Certificate, *, api_version: str = "0.0.2"
    ) -> str:
        """The SET bundle annotation for an ``intoto`` entry of ``envelope`` (its hash over
        the envelope's JSON, as cosign checks it), laid out like Rekor's canonical body."""
        content: dict[str, Any] = {
            "hash": _sha256(envelope.to_json()),
            "payloadHash": _sha256(envelope.payload),
        }
        spec: dict[str, Any] = {"content": content}
        if api_version == "0.0.1":
            spec["publicKey"] = _b64_pem(cert)
        else:  # v0.0.2: signatures double base64-encoded, no payload
            content["envelope"] = {
                "payloadType": envelope.payload_type,
                "signatures": [
                    {"publicKey": _b64_pem(cert), "sig": base64.b64encode(sig.encode()).decode()}
                    for sig in envelope.signatures
                ],
            }
        return self._logged({"apiVersion": api_version, "kind": "intoto", "spec": spec}, 7)

    def attestation(
        self,
        statement: bytes,
        *,
        api_version: str = "0.0.2",
        cert_key: ec.EllipticCurvePrivateKey | None = None,
        **leaf: Any,
    ) -> tuple[bytes, dict[str, str]]:
        """A keyless ``.att`` layer as ``cosign attest`` writes it: the DSSE envelope
        signed with the certificate's key, and the layer's annotations (empty signature,
        certificate, chain, Rekor ``intoto`` bundle, predicate type)."""
        key = cert_key or ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(key, **leaf)
        envelope = sign_envelope(key, statement)
        return envelope.to_json(), {
            SIGNATURE_ANNOTATION: "",
            CERTIFICATE_ANNOTATION: _pem(cert),
            CHAIN_ANNOTATION: self.chain_pem,
            BUNDLE_ANNOTATION: self.intoto_bundle(envelope, cert, api_version=api_version),
            PREDICATE_TYPE_ANNOTATION: json.loads(statement)["predicateType"],
        }

    @property
    def chain_pem(self) -> str:
        return _pem(self.intermediate) + _pem(self.root)

    def annotations(
        self, payload: bytes, *, cert_key: ec.EllipticCurvePrivateKey | None = None, **leaf: Any
    ) -> dict[str, str]:
        """A keyless layer's annotations: signature, certificate, chain, Rekor bundle."""
        key = cert_key or ec.generate_private_key(ec.SECP256R1())
        cert = self.leaf(key, **leaf)
        signature = ecdsa.sign(key, payload)
        return {
            SIGNATURE_ANNOTATION: signature,
            CERTIFICATE_ANNOTATION: _pem(cert),
            CHAIN_ANNOTATION: self.chain_pem,
            BUNDLE_ANNOTATION: self.rekor_bundle(payload, signature, cert),
        }
