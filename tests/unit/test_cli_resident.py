"""The resident process's protocol pieces (:mod:`service.cli.resident`,
:mod:`service.cli.resident_server`): what idle times are taken, how a request is read
or refused without leaking a received descriptor, and when the code counts as changed.
The processes themselves are tested in tests/integration/test_cli_resident.py."""

from __future__ import annotations

import json
import os
import socket
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.cli import resident
from service.cli.resident_server import Fingerprint, Request, RequestError, receive

FIELDS = {"argv": ["sbom", "alpine"], "cwd": "/", "env": {"A": "1"}, "umask": 0o022}


@pytest.mark.parametrize(
    ("raw", "expected", "warned"),
    [
        ("", None, False),
        ("0", None, False),
        ("30", 30.0, False),
        (" 2.5 ", 2.5, False),
        ("abc", None, True),
        ("-1", None, True),
        (str(resident.MAX_IDLE + 1), None, True),
    ],
)
def test_idle_seconds(
    raw: str, expected: float | None, warned: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert resident.idle_seconds({resident.IDLE_VARIABLE: raw}) == expected
    assert ("no resident process" in capsys.readouterr().err) is warned


def _open_descriptors() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    caller, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server.settimeout(5)
    with caller, server:
        yield caller, server


def _send(caller: socket.socket, body: bytes, *, streams: int = 3, size: int | None = None) -> None:
    header = (len(body) if size is None else size).to_bytes(resident.HEADER, "big")
    with open(os.devnull) as null:
        socket.send_fds(caller, [header + body], [null.fileno()] * streams)


def test_a_request_is_read_with_the_callers_streams(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    caller, server = pair
    body = json.dumps({**FIELDS, "env": {"BIG": "x" * 200_000}}).encode()  # several reads
    _send(caller, body)
    request = receive(server)
    try:
        assert request.argv == ["sbom", "alpine"]
        assert request.env == {"BIG": "x" * 200_000}
        assert (request.cwd, request.umask) == ("/", 0o022)
        assert all(os.path.samefile(f"/proc/self/fd/{fd}", os.devnull) for fd in request.streams)
    finally:
        for stream in request.streams:
            os.close(stream)


@pytest.mark.parametrize(
    ("body", "streams", "size", "message"),
    [
        (b"{not json", 3, None, "not JSON"),
        (json.dumps([1, 2]).encode(), 3, None, "expected argv"),
        (json.dumps({**FIELDS, "argv": "sbom"}).encode(), 3, None, "expected argv"),
        (json.dumps({**FIELDS, "env": {"A": 1}}).encode(), 3, None, "expected argv"),
        (json.dumps({**FIELDS, "umask": 0o1000}).encode(), 3, None, "expected argv"),
        (json.dumps(FIELDS).encode(), 1, None, "expected 3 descriptors"),
        (b"{}", 3, resident.MAX_REQUEST + 1, "at most"),
        (b"{}", 3, 100, "ended early"),
    ],
    ids=["json", "shape", "argv", "env", "umask", "streams", "too-large", "cut"],
)
def test_a_bad_request_is_refused_and_its_streams_closed(
    pair: tuple[socket.socket, socket.socket],
    body: bytes,
    streams: int,
    size: int | None,
    message: str,
) -> None:
    caller, server = pair
    before = _open_descriptors()
    _send(caller, body, streams=streams, size=size)
    caller.shutdown(socket.SHUT_WR)
    with pytest.raises(RequestError, match=message):
        receive(server)
    assert _open_descriptors() == before


def test_request_parse_keeps_the_fields() -> None:
    request = Request.parse(json.dumps(FIELDS).encode(), [7, 8, 9])
    assert request == Request(["sbom", "alpine"], "/", {"A": "1"}, 0o022, [7, 8, 9])


def test_a_module_file_changed_or_gone_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "imported.py"
    path.write_text("VALUE = 1\n")
    module = types.ModuleType("imported")
    module.__file__ = str(path)
    monkeypatch.setitem(sys.modules, "imported_for_fingerprint", module)
    fingerprint = Fingerprint()
    assert fingerprint.changed() is None
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert fingerprint.changed() == str(path)
    path.unlink()
    assert fingerprint.changed() == str(path)
