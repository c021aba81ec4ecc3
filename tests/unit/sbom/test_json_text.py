"""SBOM text laid out as ``json.dumps(document, indent=2)`` writes it, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.sbom.json_text import indented

_VALUES: list[Any] = [
    {},
    [],
    {"components": [], "metadata": {}, "n": None, "t": True, "f": False},
    {"s": 'quote " backslash \\ newline \n tab \t control \u0001 slash /'},
    {"non-ascii": "é ☃ 𝄞 ü", "ключ": "значение"},
    {"floats": [1e-05, 1e22, 0.1, -0.0, 2.5e-300, 1.0], "ints": [0, -5, 2**70]},
    {"nested": [[], [{}], {"a": [1, {"b": [[[]]]}]}]},
    [1, "two", [3, [4, {"five": 5}]]],
]


@pytest.mark.parametrize("document", _VALUES)
def test_indented_is_json_dumps_with_indent_2(document: Any) -> None:
    assert indented(document) == json.dumps(document, indent=2)


def test_a_schema_shipped_with_the_sbom_library_is_laid_out_as_json_does() -> None:
    """A large real document: the CycloneDX 1.6 schema (nested objects, long strings,
    regular expressions full of backslashes)."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON

    shipped = BOM_JSON[SchemaVersion.V1_6]
    assert shipped is not None
    document = json.loads(Path(shipped).read_text())
    assert indented(document) == json.dumps(document, indent=2)
