"""Which executables are evidence: markers found across the chunks a file is read in."""

from __future__ import annotations

from service.layers import evidence

GO_MARKER = b"\xff Go buildinf:"


def test_a_marker_split_between_chunks_is_found() -> None:
    body = b"\x7fELF" + b"\0" * 100 + GO_MARKER + b"\0" * 100
    cut = body.index(GO_MARKER) + 5
    assert evidence.by_content([body[:cut], body[cut:]])
    assert evidence.by_content([body[i : i + 3] for i in range(0, len(body), 3)])


def test_an_executable_without_markers_is_not_evidence() -> None:
    assert not evidence.by_content([b"\x7fELF", b"\0" * 4096, b"Go buildinf", b"\0"])
    assert not evidence.by_content([])
