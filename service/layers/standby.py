"""A layer-reading child process started ahead (see :mod:`service.layers.child_read`).

A command that will likely read a large layer in place — ``tollgate sbom|scan
docker-archive:FILE`` — starts the child first thing: its start-up (the interpreter
and its imports, ~0.2 s) then runs on another core beside this process's own, instead
of before the layer's read. The child waits for its job on stdin; one never given a
job is stopped when this process exits. Only the standard library is imported here:
it is imported before anything else a command needs.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from pathlib import Path

MIN_SIZE = 64 << 20  # a layer smaller than this is walked in less time than a start takes


def spawn() -> subprocess.Popen[bytes]:
    """A new child, waiting for its job on stdin."""
    return subprocess.Popen(
        [sys.executable, "-m", "service.layers.child_read"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class _Standby:
    """At most one child started ahead, this process's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self._lock:
            if self._ready is None:
                self._ready = spawn()
                atexit.register(self.dismiss)

    def take(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            process, self._ready = self._ready, None
        return process

    def dismiss(self) -> None:
        """Stop the child if it was never given a job."""
        process = self.take()
        if process is not None:
            process.kill()
            process.communicate()


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


def take() -> subprocess.Popen[bytes]:
    """The child started ahead if it is still waiting, else a new one."""
    process = _standby.take()
    if process is not None and process.poll() is None:
        return process
    if process is not None:
        process.communicate()  # ended before its job: collected, replaced
    return spawn()
