"""The resident process of :mod:`service.cli.resident`.

    python -m service.cli.resident_server SOCKET IDLE_SECONDS

It takes the socket's lock (one process per socket: a second one ends at once; the lock
file holds its pid), imports what ``tollgate sbom|scan`` import, then serves, one
process, no thread: each caller (this user only) sends a length-prefixed JSON request
(arguments, environment, working directory, umask) with its standard streams'
descriptors; a child forked for it, leading its own process group, runs the command as
``tollgate`` would and ends; the caller is answered the child's exit status
(``{"status": N}``, 128+N for a signal). A caller that closes its side (interrupted) or
goes away has its command's group sent SIGINT, and SIGKILL if it still runs 10 s later.
A request that cannot be read, or a module file changed since this process imported it,
is answered ``{"refused": ...}`` (the caller runs the command itself); a change also
makes it stop serving, as SIGTERM does (``tollgate resident stop``). It ends after
IDLE_SECONDS with no command, or once it stopped serving and its children ended.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

from service.cli import resident

logger = logging.getLogger(__name__)

# What `tollgate sbom|scan` import on their way (each imports what it needs in turn).
WARM = (
    "service.cli.main",
    "service.cli.output",
    "service.wiring",
    "service.scanning",
    "service.image.archive",
    "service.image.layout",
    "service.catalog.syft",
    "service.catalog.syft_added",
    "service.catalog.syft_native",
    "service.catalog.evidence",
    "service.layers.analyzer",
    "service.layers.increment",
    "service.layers.reader",
    "service.report",
    "policies.decision",
)
_RECEIVE_TIMEOUT = 5.0  # seconds a caller has to send its request once connected
_KILL_AFTER = 10.0  # seconds an interrupted command has to end before it is killed
_MAX_LOG = 1 << 20  # bytes of log kept
_PEER = struct.Struct("3i")  # struct ucred: pid, uid, gid


class RequestError(ValueError):
    """A caller's request that cannot be run (cut, too large, not the expected shape)."""


@dataclass(frozen=True)
class Request:
    argv: list[str]
    cwd: str
    env: dict[str, str]
    umask: int
    streams: list[int]  # the caller's stdin, stdout and stderr, received

    @classmethod
    def parse(cls, data: bytes, streams: list[int]) -> Request:
        try:
            fields = json.loads(data)
        except ValueError as error:
            raise RequestError(f"not JSON: {error}") from None
        argv, cwd, env, umask = (fields.get(key) if isinstance(fields, dict) else None
                                 for key in ("argv", "cwd", "env", "umask"))  # fmt: skip
        if not (
            isinstance(argv, list)
            and all(isinstance(word, str) for word in argv)
            and isinstance(cwd, str)
            and isinstance(env, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items())
            and isinstance(umask, int)
            and 0 <= umask <= 0o777
        ):
            raise RequestError("expected argv (strings), cwd, env (strings) and umask")
        if len(streams) != 3:
            raise RequestError(f"expected 3 descriptors, got {len(streams)}")
        return cls(argv, cwd, env, umask, streams)


def receive(connection: socket.socket) -> Request:
    """The request a caller sent on ``connection`` (RequestError, OSError)."""
    data, streams, _flags, _address = socket.recv_fds(connection, 65536, 3)
    try:
        data = _read_to(connection, data, resident.HEADER)
        size = int.from_bytes(data[: resident.HEADER], "big")
        if size > resident.MAX_REQUEST:
            raise RequestError(f"a request of {size} bytes (at most {resident.MAX_REQUEST})")
        data = _read_to(connection, data, resident.HEADER + size)
        return Request.parse(data[resident.HEADER :], streams)
    except BaseException:
        for stream in streams:
            os.close(stream)
        raise


def _read_to(connection: socket.socket, data: bytes, length: int) -> bytes:
    """``data`` and what follows it on ``connection``, to ``length`` bytes."""
    while len(data) < length:
        chunk = connection.recv(min(65536, length - len(data)))
        if not chunk:
            raise RequestError("the request ended early")
        data += chunk
    return data


class Fingerprint:
    """The modification times of every module file this process imported."""

    def __init__(self) -> None:
        self._times = {path: _mtime(path) for path in _module_files()}

    def changed(self) -> str | None:
        """A file that changed (or went) since, if one did."""
        for path, mtime in self._times.items():
            if _mtime(path) != mtime:
                return path
        return None


def _module_files() -> set[str]:
    files = (getattr(module, "__file__", None) for module in list(sys.modules.values()))
    return {path for path in files if isinstance(path, str)}


def _mtime(path: str) -> int | None:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


@dataclass
class _Command:
    pid: int
    pidfd: int
    connection: socket.socket
    started: float
    kill_at: float | None = None  # the caller went away: killed then if still running


class ResidentServer:
    """Serves ``listener`` until idle for ``idle`` seconds; see the module."""

    def __init__(self, listener: socket.socket, idle: float, keep: list[int]) -> None:
        self._listener: socket.socket | None = listener
        self._path = listener.getsockname()
        self._inode = os.stat(self._path).st_ino  # removed at the end only if still this
        self._idle = idle
        self._selector = selectors.DefaultSelector()
        self._selector.register(listener, selectors.EVENT_READ, self._accept)
        self._commands: dict[int, _Command] = {}
        self._fingerprint = Fingerprint()
        self._last = time.monotonic()
        self._stopping = False
        self._wake, woken = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._keep = [*keep, self._wake, woken]  # what a child closes: the lock, the pipe
        self._selector.register(self._wake, selectors.EVENT_READ, self._drain)
        signal.set_wakeup_fd(woken)  # a signal wakes the selector
        signal.signal(signal.SIGTERM, self._stop_asked)

    def _stop_asked(self, signum: int, frame: object) -> None:
        """SIGTERM (``tollgate resident stop``): stop serving at the loop's next turn; the
        commands running end first."""
        self._stopping = True

    def _drain(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake, 512):
                pass

    def serve(self) -> None:
        while self._listener is not None or self._commands:
            timeout = self._timeout()
            if timeout is not None and timeout <= 0 and not self._commands:
                break  # idle for long enough
            for key, _events in self._selector.select(timeout):
                handler: Callable[[], None] = key.data
                try:
                    handler()
                except Exception:  # one caller's trouble: logged, the others still served
                    logger.exception("serving a caller failed")
            self._kill_overdue()
            if self._stopping:
                self._stop_serving()
        self._stop_serving()

    def _timeout(self) -> float | None:
        """Seconds until the next thing to do without a caller: end (idle), or kill a
        command whose caller went away."""
        now = time.monotonic()
        deadlines = [command.kill_at for command in self._commands.values() if command.kill_at]
        if not self._commands and self._listener is not None:
            deadlines.append(self._last + self._idle)
        return max(0.0, min(deadlines) - now) if deadlines else None

    def _kill_overdue(self) -> None:
        now = time.monotonic()
        for command in self._commands.values():
            if command.kill_at is not None and command.kill_at <= now:
                _signal_group(command.pid, signal.SIGKILL)
                command.kill_at = None

    def _accept(self) -> None:
        assert self._listener is not None
        try:
            connection, _address = self._listener.accept()
        except OSError:
            return
        self._last = time.monotonic()
        connection.settimeout(_RECEIVE_TIMEOUT)
        _pid, uid, _gid = _PEER.unpack(
            connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER.size)
        )
        if uid != os.getuid():
            logger.warning("refused a caller of uid %d", uid)
            connection.close()
            return
        try:
            request = receive(connection)
        except (OSError, RequestError) as error:
            logger.warning("a caller's request was not read: %s", error)
            with contextlib.suppress(OSError):
                _answer(connection, {"refused": f"request not read: {error}"})
            connection.close()
            return
        changed = self._fingerprint.changed()
        if changed is not None:
            for stream in request.streams:
                os.close(stream)
            _answer(connection, {"refused": f"{changed} changed since this process started"})
            self._stop_serving()
            return
        self._fork(connection, request)

    def _fork(self, connection: socket.socket, request: Request) -> None:
        pid = os.fork()
        if pid == 0:
            self._close_for_child(connection)
            os.setpgid(0, 0)
            run_command(request)
        with contextlib.suppress(OSError):  # its own group, whichever of the two runs first
            os.setpgid(pid, pid)
        for stream in request.streams:
            os.close(stream)
        command = _Command(pid, os.pidfd_open(pid), connection, time.monotonic())
        self._commands[command.pidfd] = command
        self._selector.register(command.pidfd, selectors.EVENT_READ, lambda: self._ended(command))
        connection.setblocking(False)
        self._selector.register(connection, selectors.EVENT_READ, lambda: self._gone(command))

    def _close_for_child(self, connection: socket.socket) -> None:
        self._selector.close()
        if self._listener is not None:
            self._listener.close()
        for command in self._commands.values():
            command.connection.close()
            os.close(command.pidfd)
        for descriptor in self._keep:
            os.close(descriptor)
        connection.close()

    def _ended(self, command: _Command) -> None:
        _pid, status = os.waitpid(command.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self._forget(command)
        seconds = time.monotonic() - command.started
        _bound_log()
        logger.info("command run by pid %d: exit status %d in %.3f s", command.pid, code, seconds)
        with contextlib.suppress(OSError):
            command.connection.setblocking(True)
            _answer(command.connection, {"status": code if code >= 0 else 128 - code})
        command.connection.close()
        self._last = time.monotonic()

    def _gone(self, command: _Command) -> None:
        """The caller's connection is readable: the caller was interrupted (it closed its
        side, and awaits the status) or went away, or it sent more than its request
        (ignored). The command is interrupted as a terminal would (SIGINT to its process
        group: the command and the engines it runs), and killed if still running
        ``_KILL_AFTER`` seconds later."""
        if self._commands.get(command.pidfd) is not command:
            return  # ended in the same wake-up: answered and closed already
        try:
            more = command.connection.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            more = b""
        if not more:
            self._selector.unregister(command.connection)
            _signal_group(command.pid, signal.SIGINT)
            command.kill_at = time.monotonic() + _KILL_AFTER

    def _forget(self, command: _Command) -> None:
        del self._commands[command.pidfd]
        self._selector.unregister(command.pidfd)
        os.close(command.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(command.connection)

    def _stop_serving(self) -> None:
        """Take no more commands: the socket is removed (if still this process's)."""
        if self._listener is None:
            return
        self._selector.unregister(self._listener)
        with contextlib.suppress(OSError):
            if os.stat(self._path).st_ino == self._inode:
                os.unlink(self._path)
        self._listener.close()
        self._listener = None


def _bound_log(limit: int = _MAX_LOG) -> None:
    """Empty this process's log (its stderr, a file opened to append) once it holds more
    than ``limit`` bytes: a resident process may serve for weeks."""
    with contextlib.suppress(OSError):  # not a file: a terminal, a pipe
        if os.fstat(2).st_size > limit:
            os.ftruncate(2, 0)


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


def _answer(connection: socket.socket, reply: dict[str, Any]) -> None:
    connection.sendall(json.dumps(reply).encode())


def run_command(request: Request) -> NoReturn:
    """In a forked child: ``tollgate`` run with ``request``'s arguments, environment,
    working directory and streams, then this process ends with its status."""
    code: int = 2
    try:
        signal.set_wakeup_fd(-1)  # the server's pipe, closed here
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, stream in enumerate(request.streams):
            os.dup2(stream, target)
            os.close(stream)
        sys.stdin, sys.stdout, sys.stderr = (_text_stream(0, "r"), _text_stream(1, "w"),
                                             _text_stream(2, "w"))  # fmt: skip
        os.chdir(request.cwd)
        os.umask(request.umask)
        os.environ.clear()
        os.environ.update(request.env)
        sys.argv = ["tollgate", *request.argv]
        logging.root.handlers.clear()  # the command configures its own (on the caller's stderr)
        logging.root.setLevel(logging.WARNING)
        from service.cli.main import main
        from service.layers import standby
        from service.settings import get_settings

        get_settings.cache_clear()  # read from the caller's environment
        standby.stand_by_for_command(request.argv)
        main()  # ends this process itself, or raises SystemExit
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except BaseException:  # reported as the interpreter would, on the caller's stderr
        traceback.print_exc()
    finally:
        for text in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                text.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def _text_stream(descriptor: int, mode: str) -> IO[str]:
    """A text stream on ``descriptor`` as the interpreter would open it for a command:
    line-buffered on a terminal (and always for stderr), the encoding this process's."""
    like = sys.__stderr__ if descriptor == 2 else sys.__stdout__
    line = mode == "w" and (descriptor == 2 or os.isatty(descriptor))
    return open(
        descriptor,
        mode,
        buffering=1 if line else -1,
        encoding=getattr(like, "encoding", None) or "utf-8",
        errors="backslashreplace" if descriptor == 2 else None,
        closefd=False,
    )


def main(arguments: list[str]) -> None:
    path, idle = Path(arguments[0]), float(arguments[1])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    lock = os.open(path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # another one is starting or serving
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())  # who serves, for whoever would stop it
    _bound_log(0)  # the log is this process's alone
    for name in WARM:
        importlib.import_module(name)
    from service.sbom import SbomFormat, import_writer

    import_writer(SbomFormat.CYCLONEDX_JSON)  # collects and freezes what was built
    gc.collect()
    gc.freeze()
    if threading.active_count() > 1:  # forking would copy a process without them
        logger.error("an import started a thread: not serving")
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by one that ended without removing it
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    server = ResidentServer(listener, idle, [lock])  # SIGTERM handled from here on
    logger.info("serving on %s (pid %d)", path, os.getpid())
    server.serve()
    logger.info("ended")


if __name__ == "__main__":
    main(sys.argv[1:])
