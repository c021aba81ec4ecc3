"""The ``tollgate`` command line.

httpx imports its own command-line client (and with it rich and pygments) whenever
those are installed, which sigstore makes them: that doubles httpx's import time
(httpx issue "Do a lazy import of the _main CLI module"). Tollgate never runs it,
so the CLI keeps it from loading; a cached answer is mostly start-up time.

An SBOM or scan of a large ``docker save`` archive starts the process that will read its
largest layer here, before the command's imports (:mod:`service.layers.standby`).
"""

import sys

from service.layers import standby

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
standby.stand_by_for_command(getattr(sys, "argv", [])[1:])  # an embedding may set none
