"""A resident ``tollgate``: ``sbom`` and ``scan`` run by a warm process (opt-in).

A one-shot command spends most of a cached or incremental answer starting up: the
interpreter, click, pydantic and Tollgate's models, the layer readers and the SBOM
writer take ~0.2 s of the 0.3 s a push read from a ``docker save`` archive takes,
whatever the caches hold. On a build host that runs command after command,
``TOLLGATE_RESIDENT_IDLE=SECONDS`` keeps one process per user and installation with all
of that imported. Each ``tollgate sbom|scan`` connects to it over a Unix socket and it
forks a child that runs the command as the command's own process would: same arguments,
environment, working directory, umask and standard streams (passed over the socket),
and the child's exit status becomes the command's; an interrupt (Ctrl-C) interrupts the
child and what it runs. The resident process ends after SECONDS
without a command.

Where none answers, the command starts one in the background and runs itself, as
without this setting; so does a command the resident process refuses. Only the user
who started it can connect: its socket lies in a directory of theirs alone (mode 0700,
checked before use) and each caller's credentials are checked. A module it imported
that changed on disk since (an upgrade, an edit) makes it refuse and end: the next
command starts a fresh one. Its own log is ``resident-KEY.log`` beside the socket (the
server: :mod:`service.cli.resident_server`).

Only the standard library is imported here: the command's side runs before anything
else the command needs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from service import __version__

IDLE_VARIABLE = "TOLLGATE_RESIDENT_IDLE"
MAX_IDLE = 86_400  # seconds
SERVED = frozenset({"sbom", "scan"})
MAX_REQUEST = 1 << 20  # bytes of arguments, environment and working directory
_MAX_SOCKET_PATH = 108  # bytes of sun_path, its final NUL included
HEADER = 4  # bytes of a request's length, big-endian


def idle_seconds(environ: Mapping[str, str]) -> float | None:
    """The idle time ``TOLLGATE_RESIDENT_IDLE`` asks for; None when unset, 0 or invalid
    (an invalid one is reported on stderr: the command still runs)."""
    raw = environ.get(IDLE_VARIABLE, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_IDLE:
        _without(f"{IDLE_VARIABLE}={raw!r} is not a number of seconds from 0 to {MAX_IDLE}")
        return None
    return seconds or None


def private_directory() -> Path | None:
    """This user's directory for resident sockets (``$XDG_RUNTIME_DIR/tollgate``, else
    ``$TMPDIR`` or ``/tmp``, ``tollgate-UID``), made if missing; None, with a warning, if
    it is not a directory of this user's that no one else may enter."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) / "tollgate" if runtime else None
    if base is None:
        shared = os.environ.get("TMPDIR") or "/tmp"  # noqa: S108 - checked below: private
        base = Path(shared) / f"tollgate-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        base.mkdir(mode=0o700)
    try:
        status = os.lstat(base)
    except OSError:
        status = None
    if (
        status is None
        or not stat.S_ISDIR(status.st_mode)
        or status.st_uid != os.getuid()
        or status.st_mode & 0o077
    ):
        _without(f"{base} is not a directory of this user's alone (mode 0700)")
        return None
    return base


def _without(reason: str) -> None:
    """Warn that no resident process is used, and why; the command runs itself."""
    sys.stderr.write(f"tollgate: warning: {reason}: no resident process\n")


def _source() -> Path:
    """The directory this installation's ``service`` package is imported from."""
    return Path(__file__).resolve().parents[2]


def socket_path(directory: Path) -> Path:
    """The socket of this installation's resident process: one per interpreter, source
    tree and version, so that no command is served by other code."""
    identity = f"{sys.executable}\0{_source()}\0{__version__}"
    key = hashlib.sha256(identity.encode()).hexdigest()
    return directory / f"resident-{key[:16]}.sock"


def serving(path: Path) -> int | None:
    """The pid of the resident process serving ``path``, if one does (it holds the lock
    beside the socket for its whole life, and wrote its pid in it)."""
    try:
        descriptor = os.open(path.with_suffix(".lock"), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(descriptor, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else None
    finally:
        os.close(descriptor)  # a lock taken here goes with it
    return None


def run_for_program(argv: Sequence[str]) -> int | None:
    """:func:`run_resident` for this process's command line when this process is the
    ``tollgate`` program (its console script, or ``python -m service.cli`` while the
    package is found: ``-m``); None otherwise (an embedding, a test runner)."""
    program = argv[0] if argv else ""
    if program != "-m" and Path(program).name != "tollgate":
        return None
    return run_resident(argv[1:])


def run_resident(arguments: Sequence[str]) -> int | None:
    """The exit status of ``tollgate ARGUMENTS`` run by the resident process; None where
    the command is not one it runs, none is asked for, or none answers (one is then
    started for the next command): the caller runs the command itself."""
    words = [argument for argument in arguments if not argument.startswith("-")]
    if not words or words[0] not in SERVED:
        return None
    idle = idle_seconds(os.environ)
    directory = private_directory() if idle is not None else None
    if idle is None or directory is None:
        return None
    path = socket_path(directory)
    if len(os.fsencode(path)) >= _MAX_SOCKET_PATH:
        _without(f"{path} is too long for a socket")
        return None
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        _start(path, idle)
        return None
    with connection:
        return _ask(connection, list(arguments))


def _ask(connection: socket.socket, arguments: list[str]) -> int | None:
    try:
        cwd = os.getcwd()
    except OSError:
        return None  # a directory removed under the caller: the command says what it can
    umask = os.umask(0o077)
    os.umask(umask)
    fields = {"argv": arguments, "cwd": cwd, "env": dict(os.environ), "umask": umask}
    request = json.dumps(fields).encode()
    message = len(request).to_bytes(HEADER, "big") + request
    try:
        sent = socket.send_fds(connection, [message], [0, 1, 2])
        connection.sendall(message[sent:])
    except OSError:
        return None  # gone before it took the command
    try:
        answer = _read_interruptible(connection)
    except KeyboardInterrupt:  # interrupted twice: leave (the command is being stopped)
        return 130
    except OSError:
        answer = b""  # the command may have run: it is not run again
    try:
        reply = json.loads(answer)
    except ValueError:
        sys.stderr.write("tollgate: error: the resident process ended during the command\n")
        return 2
    status = reply.get("status") if isinstance(reply, dict) else None
    return status if isinstance(status, int) else None  # refused: run it here


def _read_interruptible(connection: socket.socket) -> bytes:
    """The answer; on an interrupt (Ctrl-C) the command is interrupted in turn (this
    side's end of the connection closed: SIGINT to the command's process group), and its
    exit status still awaited."""
    try:
        return _read_all(connection)
    except KeyboardInterrupt:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_WR)
    return _read_all(connection)


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(4096):
        chunks.append(chunk)
    return b"".join(chunks)


def _start(path: Path, idle: float) -> None:
    """Start a resident process for ``path`` in the background; this command does not
    wait for it. Its own failures go to its log beside the socket."""
    import subprocess

    source = str(_source())  # importable from "/" as from here
    search = os.pathsep.join(filter(None, (source, os.environ.get("PYTHONPATH"))))
    with contextlib.suppress(OSError), open(path.with_suffix(".log"), "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "service.cli.resident_server", str(path), str(idle)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            cwd="/",  # holds no caller's directory (each command runs in its caller's)
            env={**os.environ, "PYTHONPATH": search},
            start_new_session=True,  # not stopped with the terminal's foreground job
        )
