"""Writing command output: atomically to a file (never a partial file) or to stdout."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def write_output(text: str, output: Path | None) -> None:
    """``text`` to stdout, or to the file ``output`` by a rename over it (readers see the
    old file or the new one); to anything else ``output`` names already — a device such
    as ``/dev/null``, a pipe, ``/dev/stdout`` — it is written in place (a rename would
    put a regular file in the device's place)."""
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    if output.exists() and not output.is_file():
        with output.open("w", encoding="utf-8") as handle:
            handle.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; honour the user's umask
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class StderrProgress:
    """Pull progress on stderr, one line per finished blob plus a running total on a TTY."""

    def __init__(self) -> None:
        self._tty = sys.stderr.isatty()
        self._done: set[str] = set()

    def __call__(self, digest: str, done: int, total: int) -> None:
        short = digest.rsplit(":", maxsplit=1)[-1][:12]
        if done >= total and digest not in self._done:
            self._done.add(digest)
            sys.stderr.write(f"pulled {short} ({total / 1e6:.1f} MB)\n")
        elif self._tty:
            sys.stderr.write(f"\rpulling {short} {done / 1e6:.1f}/{total / 1e6:.1f} MB")
        sys.stderr.flush()
