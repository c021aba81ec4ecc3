"""A layer blob's tar stream: a compressed blob inflated by a child process.

Inflating a large layer costs as much CPU as walking its tar. In a thread of the same
process the two barely overlap: ISA-L releases the GIL while it inflates a block but
takes it back for every block read and returned, and a walk that holds the GIL makes
each of those hand-overs wait out the interpreter's switch interval (a 990 MB layer:
inflating alone 1.9 s, beside a busy walk 5.1 s). A child process has a GIL of its own:
it inflates gzip with ISA-L (``isal``) and zstd with ``zstandard`` and writes the tar to
a pipe, while this process walks it. The child imports nothing of Tollgate.

A blob still being stored is fed to the child by a thread as it arrives. A blob the
child cannot inflate ends the pipe early; the walk's error then names what the child
said. Once the walk is done the child is stopped, whatever it had left to inflate.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Protocol

from service.errors import ImageError, UnsafeArchiveError
from service.image.inflation import inflation_limit
from service.image.manifest import LAYER_HEAD, OCI_LAYER_GZIP, OCI_LAYER_ZSTD, layer_media_type
from service.layers.tarstream import Readable

_CHILD_KINDS = {OCI_LAYER_GZIP: "gzip", OCI_LAYER_ZSTD: "zstd"}  # what the child inflates
_FEED = 4 << 20
_PIPE_SIZE = 1 << 20  # Linux's default limit for an unprivileged pipe
_F_SETPIPE_SZ = 1031
# The child inflates in one thread and writes to the pipe in another, up to 8 MiB ahead:
# a write blocks until this process has read what is in the pipe (1 MiB at most), and
# in one thread the child would not inflate meanwhile (the two would take turns).
_CHILD = """
import os, queue, sys, threading
kind = sys.argv[1]
if kind == "gzip":
    from isal.igzip import IGzipFile
    source = IGzipFile(fileobj=sys.stdin.buffer, mode="rb")
else:
    import zstandard
    source = zstandard.ZstdDecompressor().stream_reader(sys.stdin.buffer, read_across_frames=True)
chunks = queue.Queue(8)
def write():
    out = sys.stdout.buffer
    try:
        while chunk := chunks.get():
            out.write(chunk)
        out.flush()
    except BrokenPipeError:  # the walk ended before the stream did
        os._exit(0)
writer = threading.Thread(target=write, daemon=True)
writer.start()
try:
    while chunk := source.read(1 << 20):
        chunks.put(chunk)
except Exception as error:
    sys.stderr.write(f"{type(error).__name__}: {error}")
    sys.stderr.flush()
    os._exit(1)
chunks.put(b"")
writer.join()
"""


class Blob(Readable, Protocol):
    """A layer blob as read: from its start, with a look at its first bytes."""

    def seek(self, position: int, /) -> int: ...


class _Pipe:
    """The read end of the child's output, refusing a decompression bomb: more inflated
    bytes than :func:`~service.image.inflation.inflation_limit` allows for the compressed
    bytes the child was given so far (``compressed()``)."""

    def __init__(self, fd: int, compressed: Callable[[], int], what: str) -> None:
        self._fd = fd
        self._compressed = compressed
        self._what = what
        self._inflated = 0

    def read(self, size: int, /) -> bytes:
        data = os.read(self._fd, size)
        self._inflated += len(data)
        if self._inflated > inflation_limit(self._compressed()):
            raise UnsafeArchiveError(
                f"{self._what} inflates to more than {self._inflated} bytes from "
                f"{self._compressed()} compressed: refusing a decompression bomb",
                hint="the layer is malformed or hostile; do not use this image",
            )
        return data


@contextlib.contextmanager
def tar_stream(raw: Blob, what: str) -> Iterator[Readable]:
    """The tar inside ``raw`` (gzip, zstd or none, told by its first bytes)."""
    head = b""
    while len(head) < LAYER_HEAD and (more := raw.read(LAYER_HEAD - len(head))):
        head += more
    raw.seek(0)
    kind = _CHILD_KINDS.get(layer_media_type(head))
    if kind is None:  # an uncompressed tar
        yield raw
        return
    with _child(raw, kind, what) as stream:
        yield stream


@contextlib.contextmanager
def _child(raw: Blob, kind: str, what: str) -> Iterator[Readable]:
    fileno = _fileno(raw)
    if fileno is not None:  # the child reads the file from its start, not from our buffer's
        os.lseek(fileno, 0, os.SEEK_SET)
    child = subprocess.Popen(
        [sys.executable, "-I", "-c", _CHILD, kind],
        stdin=fileno if fileno is not None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stderr is not None
    for pipe in (child.stdout, child.stdin):
        with contextlib.suppress(OSError):  # a smaller pipe only costs more hand-overs
            if pipe is not None:
                fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    feeder = None if fileno is not None else _Feeder(raw, child)
    size = os.fstat(fileno).st_size if fileno is not None else 0
    compressed = (lambda: size) if feeder is None else (lambda: feeder.fed)
    try:
        yield _Pipe(child.stdout.fileno(), compressed, what)
    except Exception as error:
        child.stdout.close()
        if feeder is not None and feeder.error is not None:
            raise feeder.error from error  # the blob stopped arriving
        if child.wait() != 0:
            said = child.stderr.read().decode(errors="replace").strip()
            raise ImageError(f"{what} does not inflate as {kind}: {said}") from error
        raise
    finally:
        child.stdout.close()
        if child.poll() is None:
            child.kill()
        child.wait()
        child.stderr.close()
        if feeder is not None:
            feeder.join()


def _fileno(raw: Blob) -> int | None:
    """The descriptor of a blob read from a file (the child reads it itself)."""
    fileno = getattr(raw, "fileno", None)
    if fileno is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        descriptor: int = fileno()
        return descriptor
    return None


class _Feeder(threading.Thread):
    """Copies a blob that is still arriving into the child."""

    def __init__(self, raw: Blob, child: subprocess.Popen[bytes]) -> None:
        super().__init__(name="feed", daemon=True)
        self._raw = raw
        self._child = child
        self.error: Exception | None = None
        self.fed = 0  # bytes given to the child so far
        self.start()

    def run(self) -> None:
        sink = self._child.stdin
        assert sink is not None
        try:
            with sink:
                while chunk := self._raw.read(_FEED):
                    self.fed += len(chunk)
                    sink.write(chunk)
        except BrokenPipeError:  # the walk ended before the blob did
            pass
        except Exception as error:  # the blob's download failed: raised by the walk's side
            self.error = error
