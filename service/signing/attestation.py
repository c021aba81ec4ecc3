"""Cosign's ``--type`` names, their predicate type URIs, and predicate construction."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from service.errors import SigningError

CUSTOM_PREDICATE_TYPE = "https://cosign.sigstore.dev/attestation/v1"

# From cosign's pkg/cosign/attestation and cmd/cosign/cli/options/predicate.go.
PREDICATE_TYPES: dict[str, str] = {
    "custom": CUSTOM_PREDICATE_TYPE,
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "cyclonedx": "https://cyclonedx.org/bom",
    "link": "https://in-toto.io/Link/v1",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "openvex": "https://openvex.dev/ns",
}


def predicate_type_uri(type_name: str) -> str:
    """The URI for a cosign ``--type`` name; a URI is accepted as itself."""
    if type_name in PREDICATE_TYPES:
        return PREDICATE_TYPES[type_name]
    if "://" in type_name:
        return type_name
    raise SigningError(
        f"unknown predicate type {type_name!r}",
        hint=f"use one of {', '.join(sorted(PREDICATE_TYPES))} or a predicate type URI",
    )


def _utc_now() -> datetime:
    return datetime.now(UTC)


def build_predicate(type_name: str, raw: bytes, *, clock: Callable[[], datetime] = _utc_now) -> Any:
    """The predicate cosign puts in the statement for ``--type`` and the predicate file.

    ``custom`` wraps the file text as ``{"Data": ..., "Timestamp": RFC 3339}``; every other
    type must be a JSON document and is embedded as parsed.
    """
    if predicate_type_uri(type_name) == CUSTOM_PREDICATE_TYPE:
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise SigningError("the custom predicate file is not UTF-8 text") from exc
        return {"Data": text, "Timestamp": clock().strftime("%Y-%m-%dT%H:%M:%SZ")}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise SigningError(
            f"the {type_name} predicate is not JSON", hint="pass the JSON document with --predicate"
        ) from exc
