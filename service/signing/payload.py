"""Cosign's simple-signing payload and in-toto statements, serialized byte-for-byte as Go does.

Cosign marshals with Go's ``encoding/json``: struct fields in declaration order, map keys
sorted, compact, and ``<``, ``>``, ``&``, U+2028, U+2029 escaped as ``\\uXXXX``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.errors import VerificationError

SIMPLE_SIGNING_TYPE = "cosign container image signature"
IN_TOTO_STATEMENT_V01 = "https://in-toto.io/Statement/v0.1"
IN_TOTO_STATEMENT_V1 = "https://in-toto.io/Statement/v1"

_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def _sorted_maps(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _sorted_maps(value[key]) for key in sorted(value)}
    if isinstance(value, list | tuple):
        return [_sorted_maps(item) for item in value]
    return value


def go_json(value: Any, *, sort_maps: bool = False) -> bytes:
    """``json.Marshal`` output for ``value``; dict order is kept unless ``sort_maps``."""
    text = json.dumps(
        _sorted_maps(value) if sort_maps else value, ensure_ascii=False, separators=(",", ":")
    )
    for char, escape in _GO_ESCAPES.items():
        text = text.replace(char, escape)
    return text.encode()


def simple_signing_payload(
    docker_reference: str, manifest_digest: str, annotations: Mapping[str, Any] | None = None
) -> bytes:
    """The payload ``cosign sign`` signs (``optional`` is ``null`` without annotations)."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": manifest_digest},
            "type": SIMPLE_SIGNING_TYPE,
        },
        "optional": _sorted_maps(annotations) if annotations else None,
    }
    return go_json(document)


@dataclass(frozen=True)
class SimpleSigning:
    """A parsed (untrusted until verified) simple-signing payload."""

    docker_reference: str
    manifest_digest: str
    optional: dict[str, Any] | None
    document: dict[str, Any]


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise VerificationError(f"the signature payload's {what} is not a JSON object")
    return value


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise VerificationError(f"the signature payload's {what} is not a string")
    return value


def parse_simple_signing(payload: bytes) -> SimpleSigning:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise VerificationError("the signature payload is not JSON") from exc
    document = _object(document, "document")
    critical = _object(document.get("critical"), "critical")
    if critical.get("type") != SIMPLE_SIGNING_TYPE:
        raise VerificationError(
            f"the signature payload has type {critical.get('type')!r}, not {SIMPLE_SIGNING_TYPE!r}"
        )
    identity = _object(critical.get("identity"), "critical.identity")
    image = _object(critical.get("image"), "critical.image")
    optional = document.get("optional")
    if optional is not None:
        optional = _object(optional, "optional")
    return SimpleSigning(
        docker_reference=_string(identity.get("docker-reference"), "docker-reference"),
        manifest_digest=_string(image.get("docker-manifest-digest"), "docker-manifest-digest"),
        optional=optional,
        document=document,
    )


def in_toto_statement(
    subject_name: str, manifest_digest: str, predicate_type: str, predicate: Any
) -> bytes:
    """The in-toto v0.1 statement ``cosign attest`` signs (Go field order)."""
    algorithm, _, hex_digest = manifest_digest.partition(":")
    document = {
        "_type": IN_TOTO_STATEMENT_V01,
        "predicateType": predicate_type,
        "subject": [{"name": subject_name, "digest": {algorithm: hex_digest}}],
        "predicate": _sorted_maps(predicate),
    }
    return go_json(document)


@dataclass(frozen=True)
class Statement:
    """A parsed in-toto statement (v0.1 or v1)."""

    predicate_type: str
    subject_digests: tuple[str, ...]  # "sha256:<hex>" of every subject
    document: dict[str, Any]


def parse_statement(payload: bytes) -> Statement:
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise VerificationError("the attestation payload is not JSON") from exc
    if not isinstance(document, dict):
        raise VerificationError("the attestation payload is not a JSON object")
    if document.get("_type") not in (IN_TOTO_STATEMENT_V01, IN_TOTO_STATEMENT_V1):
        raise VerificationError(
            f"the attestation is not an in-toto statement (_type {document.get('_type')!r})"
        )
    predicate_type = document.get("predicateType")
    subjects = document.get("subject")
    if not isinstance(predicate_type, str) or not isinstance(subjects, list):
        raise VerificationError("the in-toto statement lacks predicateType or subject")
    digests: list[str] = []
    for subject in subjects:
        digest = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digest, dict) and isinstance(digest.get("sha256"), str):
            digests.append(f"sha256:{digest['sha256']}")
    return Statement(predicate_type, tuple(digests), document)
