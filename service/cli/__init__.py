"""The ``tollgate`` command line.

httpx imports its own command-line client (and with it rich and pygments) whenever
those are installed, which sigstore makes them: that doubles httpx's import time
(httpx issue "Do a lazy import of the _main CLI module"). Tollgate never runs it,
so the CLI keeps it from loading; a cached answer is mostly start-up time.

Pydantic looks for plugins the first time it builds a model: it reads the entry points
of every installed distribution (~35 ms here, in every process: this one, a
layer-reading child, each worker) and would run what it finds inside every scan. Tollgate uses none,
so its commands and the processes they start load none, unless
``PYDANTIC_DISABLE_PLUGINS`` is set (empty: load them all, as pydantic does by default).

With ``TOLLGATE_RESIDENT_IDLE`` set, ``tollgate sbom|scan`` is run by a resident process
that imported all of this once (:mod:`service.cli.resident`), before anything else here.

An SBOM or scan of a large ``docker save`` archive starts the process that will read its
largest layer here, before the command's imports (:mod:`service.layers.standby`).
"""

import os
import sys

from service.cli import resident
from service.layers import standby

os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")  # before any child starts

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
_status = resident.run_for_program(getattr(sys, "argv", []))
if _status is not None:
    os._exit(_status)  # the resident process ran the command (nothing is buffered here)
standby.stand_by_for_command(getattr(sys, "argv", [])[1:])  # an embedding may set none
