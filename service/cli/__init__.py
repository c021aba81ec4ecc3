"""The ``tollgate`` command line.

httpx imports its own command-line client (and with it rich and pygments) whenever
those are installed, which sigstore makes them: that doubles httpx's import time
(httpx issue "Do a lazy import of the _main CLI module"). Tollgate never runs it,
so the CLI keeps it from loading; a cached answer is mostly start-up time.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
