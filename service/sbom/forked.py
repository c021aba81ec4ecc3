"""Part of a render done in a forked child, on another core, beside this process's part.

cyclonedx-python-lib builds and writes a component in about a millisecond of Python,
half a second for a 450-package image: the longest step of a cold SBOM once the layers
are read, on one core while the other idles. A fork starts with every module loaded and
the catalog in memory (pages shared until written): it renders its part, sends it back
as JSON through a pipe and exits without tearing anything down.

Forking copies only the calling thread: a lock another thread held at that moment
would stay held in the child. A process with any other thread (the API, a worker)
never forks here; a one-shot command at render time has none. A child that fails
sends nothing, and its part is then rendered here.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable

# A part smaller than this renders in less time than forking and sending it back cost.
MIN_FORKED = 50


def may_fork() -> bool:
    """Whether a part may be forked off now: no other thread, a second core to run it."""
    return threading.active_count() == 1 and len(os.sched_getaffinity(0)) >= 2


def started(work: Callable[[], bytes]) -> Callable[[], bytes | None]:
    """``work`` started in a forked child; the returned function waits for what it
    returned (None if it failed, or no child could be forked). Call only where
    :func:`may_fork`."""
    try:
        pid, [(readable, writable)] = forked_with_pipes(1)
    except OSError:  # no process or pipe to be had (a limit reached): the work is done here
        return lambda: None
    if pid == 0:  # the child: no return from here, no exit handlers, no buffers flushed
        code = 1
        with contextlib.suppress(BaseException):
            os.close(readable)
            data = work()
            with os.fdopen(writable, "wb") as pipe:
                pipe.write(data)
            code = 0
        os._exit(code)
    os.close(writable)

    def result() -> bytes | None:
        with os.fdopen(readable, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(pid, 0)
        return data if os.waitstatus_to_exitcode(status) == 0 else None

    return result


def forked_with_pipes(count: int) -> tuple[int, list[tuple[int, int]]]:
    """``os.fork()`` after ``count`` pipes are made: (pid, [(read end, write end), ...]);
    OSError, and no descriptor left open, where a pipe or the process cannot be had."""
    pipes: list[tuple[int, int]] = []
    try:
        for _ in range(count):
            pipes.append(os.pipe())
        return os.fork(), pipes
    except OSError:
        for pipe in pipes:
            for descriptor in pipe:
                os.close(descriptor)
        raise
