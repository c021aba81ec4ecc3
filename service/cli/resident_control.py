"""``tollgate resident``: whether a resident process serves this installation's
``tollgate sbom|scan`` (:mod:`service.cli.resident`), and stopping it."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import click

from service.cli import resident
from service.errors import ConfigurationError

app = click.Group(
    "resident",
    help="The resident process that runs `tollgate sbom|scan` (TOLLGATE_RESIDENT_IDLE).",
    no_args_is_help=False,
)

_STOP_WAIT = 30.0  # seconds a stopping process has to finish the commands it runs


def _socket() -> Path:
    directory = resident.private_directory()
    if directory is None:
        raise ConfigurationError(
            "no directory for a resident process's socket",
            hint="see the warning above; unset TOLLGATE_RESIDENT_IDLE to go without one",
        )
    return resident.socket_path(directory)


@app.command()
def status() -> None:
    """Say whether a resident process serves, and where."""
    path = _socket()
    pid = resident.serving(path)
    click.echo(f"serving on {path} (pid {pid})" if pid else f"none serving on {path}")


@app.command()
def stop() -> None:
    """Stop the resident process once the commands it runs have ended."""
    path = _socket()
    pid = resident.serving(path)
    if pid is None:
        click.echo(f"none serving on {path}")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_WAIT
    while resident.serving(path) == pid:
        if time.monotonic() > deadline:
            raise ConfigurationError(
                f"the resident process {pid} still runs commands after {_STOP_WAIT:g} s",
                hint=f"wait for them, or end it: kill {pid}",
            )
        time.sleep(0.05)
    click.echo(f"stopped the resident process {pid}")
