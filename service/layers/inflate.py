"""A layer blob's tar stream: a compressed blob inflated by a child process, or here when
it is small.

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

A blob of at most ``_IN_PROCESS`` bytes (an application or package layer pushed on a base)
is inflated in this process: the walk is short, and starting the child (an interpreter
and ISA-L, ~50 ms) would cost more than the whole read.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import io
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
_IN_PROCESS = 1 << 20  # compressed bytes: a blob this small is inflated here
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


class _Limited:
    """A tar stream that refuses a decompression bomb: more inflated bytes than
    :func:`~service.image.inflation.inflation_limit` allows for the compressed bytes
    inflated so far (``compressed()``). ``read``: the inflated stream's."""

    def __init__(self, read: Callable[[int], bytes], compressed: Callable[[], int], what: str):
        self._read = read
        self._compressed = compressed
        self._what = what
        self._inflated = 0

    def read(self, size: int, /) -> bytes:
        data = self._read(size)
        self._inflated += len(data)
        if self._inflated > inflation_limit(self._compressed()):
            raise UnsafeArchiveError(
                f"{self._what} inflates to more than {self._inflated} bytes from "
                f"{self._compressed()} compressed: refusing a decompression bomb",
                hint="the layer is malformed or hostile; do not use this image",
            )
        return data


class _Inflated:
    """A small blob's tar, inflated here as the child would inflate it."""

    def __init__(self, kind: str, blob: bytes, what: str) -> None:
        self._kind = kind
        self._what = what
        source = io.BytesIO(blob)
        self._source: Readable
        if kind == "gzip":  # zlib: at this size ISA-L's speed is not worth its import
            import gzip

            self._source = gzip.GzipFile(fileobj=source, mode="rb")
        else:
            import zstandard

            self._source = zstandard.ZstdDecompressor().stream_reader(
                source, read_across_frames=True
            )

    def read(self, size: int, /) -> bytes:
        try:
            return self._source.read(size)
        except Exception as error:  # what the child would write on stderr, as its error
            raise ImageError(
                f"{self._what} does not inflate as {self._kind}: {type(error).__name__}: {error}"
            ) from error


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
    first = _read_up_to(raw, _IN_PROCESS + 1)
    if len(first) <= _IN_PROCESS:  # the whole blob
        yield _Limited(_Inflated(kind, first, what).read, lambda: len(first), what)
        return
    with _child(raw, kind, what, first) as stream:
        yield stream


def _read_up_to(raw: Blob, size: int) -> bytes:
    """The next ``size`` bytes of ``raw``, fewer only where it ends."""
    data = bytearray()
    while len(data) < size and (more := raw.read(size - len(data))):
        data += more
    return bytes(data)


@contextlib.contextmanager
def _child(raw: Blob, kind: str, what: str, first: bytes) -> Iterator[Readable]:
    """``first``: the blob's first bytes, already read from ``raw``."""
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
    feeder = None if fileno is not None else _Feeder(first, raw, child)
    size = os.fstat(fileno).st_size if fileno is not None else 0
    compressed = (lambda: size) if feeder is None else (lambda: feeder.fed)
    try:
        yield _Limited(functools.partial(os.read, child.stdout.fileno()), compressed, what)
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
    """Copies a blob that is still arriving into the child, ``first`` (read already) first."""

    def __init__(self, first: bytes, raw: Blob, child: subprocess.Popen[bytes]) -> None:
        super().__init__(name="feed", daemon=True)
        self._first = first
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
                self.fed = len(self._first)
                sink.write(self._first)
                while chunk := self._raw.read(_FEED):
                    self.fed += len(chunk)
                    sink.write(chunk)
        except BrokenPipeError:  # the walk ended before the blob did
            pass
        except Exception as error:  # the blob's download failed: raised by the walk's side
            self.error = error
