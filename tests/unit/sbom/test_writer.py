"""The SBOM writer forked as the SBOM command starts: the same documents as this process
makes, its errors as this process would raise them, and this process as the writer
once it is gone."""

from __future__ import annotations

import os
import select
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service import sbom
from service.catalog.model import Catalog
from service.errors import SBOMError
from service.sbom import SbomFormat, cyclonedx
from service.sbom import forked as forked_render
from service.sbom.writer import SbomWriter, WriterProcess
from tests.unit.catalog.fixtures import syft_catalog

CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
FORMATS = list(SbomFormat)


@pytest.fixture
def may_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fork though a thread another test left behind runs in this test process: the
    children here render only (no lock such a thread could hold); the check itself is
    tested in test_sbom.py. As a command does, this process has not imported the writer
    yet (other tests here did: it would make the documents itself)."""
    monkeypatch.setattr(forked_render, "may_fork", lambda: True)
    monkeypatch.setattr(sbom, "_IMPORTED", set())


@pytest.fixture
def forked(may_fork: None) -> Iterator[WriterProcess]:
    writer = WriterProcess(SbomFormat.CYCLONEDX_JSON)
    assert writer._child is not None
    yield writer
    writer.close()


def _on_another_image(catalog: Catalog, packages: int) -> Catalog:
    image = catalog.image.model_copy(
        update={"reference": "127.0.0.1:5000/app:2", "digest": "sha256:" + "e" * 64}
    )
    return catalog.model_copy(update={"image": image, "packages": catalog.packages[:packages]})


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_forked_writer_makes_the_documents_this_process_makes(
    forked: WriterProcess, fmt: SbomFormat
) -> None:
    """Rendered, re-subjected and extended, in the child's format or another (made here)."""
    local = SbomWriter()
    base = syft_catalog()
    smaller = base.model_copy(update={"packages": base.packages[:-2]})
    template = local.render(smaller, fmt, created=CREATED)
    app = _on_another_image(base, len(base.packages))
    added = app.packages[-2:]
    assert forked.render(base, fmt, created=CREATED) == local.render(base, fmt, created=CREATED)
    same = _on_another_image(smaller, len(smaller.packages))
    assert forked.resubjected(template, same, fmt, created=CREATED) == local.resubjected(
        template, same, fmt, created=CREATED
    )
    made = forked.extended(template, app, added, fmt, created=CREATED)
    assert made is not None
    assert made == local.extended(template, app, added, fmt, created=CREATED)


def test_a_writer_gone_leaves_the_documents_to_this_process(forked: WriterProcess) -> None:
    assert forked._child is not None
    os.kill(forked._child[0], signal.SIGKILL)
    catalog = syft_catalog()
    expected = SbomWriter().render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    assert forked.render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED) == expected
    assert forked._child is None  # collected


@pytest.mark.usefixtures("may_fork")
def test_an_invalid_document_is_the_same_error_from_the_child(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    written = cyclonedx._generated

    def corrupted(bom: Any) -> dict[str, Any]:
        document = written(bom)
        document["components"][0]["type"] = "not-a-type"
        return document

    monkeypatch.setattr(cyclonedx, "_generated", corrupted)  # before the fork: the child's too
    writer = WriterProcess(SbomFormat.CYCLONEDX_JSON)
    assert writer._child is not None
    try:
        with pytest.raises(SBOMError, match="is invalid at /components/0/type") as raised:
            writer.render(syft_catalog(), SbomFormat.CYCLONEDX_JSON, created=CREATED)
        assert raised.value.hint == "report this as a Tollgate bug with the image reference"
    finally:
        writer.close()


def test_closing_the_writer_ends_its_child(forked: WriterProcess) -> None:
    assert forked._child is not None
    pid = forked._child[0]
    forked.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # collected already
    forked.close()  # twice: nothing more to do


def test_a_writer_not_forked_makes_its_documents_here() -> None:
    writer = WriterProcess(SbomFormat.SPDX_JSON, fork=False)
    assert writer._child is None
    catalog = syft_catalog()
    expected = SbomWriter().render(catalog, SbomFormat.SPDX_JSON, created=CREATED)
    assert writer.render(catalog, SbomFormat.SPDX_JSON, created=CREATED) == expected


@pytest.mark.usefixtures("may_fork")
def test_the_child_holds_no_pipe_of_the_command_open() -> None:
    """A pipe the command made before the fork (a layer-reading child's job, read to its
    end) ends when the command closes it, though the writer child lives on."""
    readable, writable = os.pipe()
    writer = WriterProcess(SbomFormat.CYCLONEDX_JSON)
    try:
        assert writer._child is not None
        os.close(writable)
        ready, _, _ = select.select([readable], [], [], 5)
        assert ready  # the end of the pipe, not a wait for the child's exit
        assert os.read(readable, 1) == b""
    finally:
        os.close(readable)
        writer.close()


def test_no_process_to_be_had_leaves_the_documents_to_this_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past a process limit (fork fails): no child, no descriptor left open, the document
    made here; the split render keeps both halves here too."""

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    before = set(os.listdir("/proc/self/fd"))
    writer = WriterProcess(SbomFormat.CYCLONEDX_JSON)
    assert writer._child is None
    monkeypatch.setattr(forked_render, "MIN_FORKED", 1)
    catalog = syft_catalog()
    made = writer.render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    assert set(os.listdir("/proc/self/fd")) <= before
    monkeypatch.undo()
    assert made == SbomWriter().render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED)


@pytest.mark.usefixtures("may_fork")
def test_a_process_that_imported_the_writer_forks_none() -> None:
    """A resident process's command (service.cli.resident): nothing to import beside."""
    sbom.import_writer(SbomFormat.CYCLONEDX_JSON)
    writer = WriterProcess(SbomFormat.CYCLONEDX_JSON)
    assert writer._child is None
    catalog = syft_catalog()
    expected = SbomWriter().render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED)
    assert writer.render(catalog, SbomFormat.CYCLONEDX_JSON, created=CREATED) == expected
