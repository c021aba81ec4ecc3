"""A layer-reading child process started ahead (see :mod:`service.layers.child_read`).

A command that will likely read a large layer in place — ``tollgate sbom|scan
docker-archive:FILE`` — starts the child first thing: its start-up (the interpreter
and its imports, ~0.2 s) then runs on another core beside this process's own, instead
of before the layer's read. The child waits for its job on stdin. Once the image is
pinned it is given the read the analyzer will ask of it (:func:`read_ahead`), before
this process's own imports for reading layers, and the analyzer then takes it by the
layer's digest (:func:`take`). One never given a job, or whose read is never taken, is
stopped when this process exits. Only the standard library is imported here: it is
imported before anything else a command needs.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

MIN_SIZE = 64 << 20  # a layer smaller than this is walked in less time than a start takes
_STOP_WAIT = 5  # seconds a child asked to end has before it is killed
_ARCHIVE = "docker-archive:"


def spawn() -> subprocess.Popen[bytes]:
    """A new child, waiting for its job on stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", "service.layers.child_read"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def send(process: subprocess.Popen[bytes], job: bytes) -> None:
    """Give a waiting child its job (a child that ended meanwhile: its result says so)."""
    stdin = process.stdin
    assert stdin is not None
    with contextlib.suppress(BrokenPipeError):
        stdin.write(job)
    with contextlib.suppress(BrokenPipeError):
        stdin.close()
    process.stdin = None  # sent: communicate() has nothing more to write


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a child to end (SIGTERM: it removes the evidence it was writing) and collect
    its exit; one still running after a few seconds is killed."""
    if process.poll() is None:
        process.terminate()
    try:
        process.communicate(timeout=_STOP_WAIT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


class _Standby:
    """At most one child started ahead, this process's, and the children given a read
    ahead (by layer digest) until their read is taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: subprocess.Popen[bytes] | None = None
        self._ahead: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        with self._lock:
            if self._ready is None:
                self._ready = spawn()
                atexit.register(self.dismiss)

    def take(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            process, self._ready = self._ready, None
        return process

    def give(self, digest: str, job: bytes) -> None:
        """The child standing by, if one does, starts ``job`` now: the read of ``digest``."""
        with self._lock:
            process, self._ready = self._ready, None
            if process is None:
                return
            self._ahead[digest] = process
        send(process, job)

    def given(self, digest: str) -> subprocess.Popen[bytes] | None:
        """The child given the read of ``digest`` ahead, now the caller's."""
        with self._lock:
            return self._ahead.pop(digest, None)

    def dismiss(self) -> None:
        """Stop the child if it was never given a job, and those whose read ahead was
        never taken (asked to end: each removes the evidence it was writing)."""
        process = self.take()
        if process is not None:
            process.kill()
            process.communicate()
        with self._lock:
            ahead, self._ahead = list(self._ahead.values()), {}
        for process in ahead:
            stop(process)


_standby = _Standby()


def stand_by_for(archive: Path) -> None:
    """Start a child now if the image archive ``archive`` could hold a layer worth one
    (it is that large, and there are cores for two processes)."""
    try:
        large = archive.stat().st_size >= MIN_SIZE
    except OSError:
        return  # the command reports it
    if large and (os.cpu_count() or 1) >= 2:
        _standby.start()


def dismiss() -> None:
    """Stop this process's children that will not be needed (at its exit): the one
    standing by, and those given a read ahead that was never taken."""
    _standby.dismiss()


def stand_by_for_command(arguments: Sequence[str]) -> None:
    """:func:`stand_by_for` the archive of ``tollgate sbom|scan docker-archive:FILE``,
    from the command's arguments before they are parsed: the child then starts before
    any of the command's own imports (``docker-archive:`` and the path after it are all
    :func:`service.image.reference.parse_reference` reads of such a reference)."""
    words = [argument for argument in arguments if not argument.startswith("-")]
    if words[:1] not in (["sbom"], ["scan"]):
        return
    for word in words[1:]:
        if word.startswith(_ARCHIVE):
            stand_by_for(Path(word.removeprefix(_ARCHIVE)))
            return


def read_ahead(digest: str, job: bytes) -> None:
    """Give the child standing by, if one does, the read of layer ``digest`` now, as
    :func:`take` will: a command's own imports then no longer delay the start of the
    read that takes longest."""
    _standby.give(digest, job)


def take(digest: str, job: bytes) -> subprocess.Popen[bytes]:
    """The child that reads layer ``digest`` (``job``): the one given it ahead, else the
    child started ahead if it is still waiting, else a new one."""
    process = _standby.given(digest)
    if process is not None:
        return process
    process = _standby.take()
    if process is not None and process.poll() is not None:
        process.communicate()  # ended before its job: collected, replaced
        process = None
    process = process or spawn()
    send(process, job)
    return process
