"""How often CPython's cyclic garbage collector runs in a Tollgate process.

CPython collects its youngest objects every 700 net allocations of container objects. A
command allocates far more than that, and nearly all of it is either freed at once by
reference counting or kept to the end (its ~500 imported modules, a catalog of a few
hundred packages, the SBOM's model): the SBOM of a push on an analysed base collected 164
times (60-80 ms of its ~0.75 s), the cold SBOM of the 1 GB bench archive 360 times
(110-150 ms), and neither held less memory at its peak for it (84 MiB either way, measured
with no collection at all). A one-shot command and a layer-reading child collect after
200,000 (mypy does the same, for the same reasons); a long-running process (``serve``,
``worker``, ``beat``) goes back to CPython's thresholds once started, so that cycles its
requests leave are collected soon.
"""

from __future__ import annotations

import gc

_STARTED_WITH = gc.get_threshold()  # CPython's, as this module is first imported
_ONE_SHOT = (200_000, 30, 30)


def for_one_shot() -> None:
    """Collect rarely: the process ends before its garbage matters."""
    gc.set_threshold(*_ONE_SHOT)


def for_long_running() -> None:
    """Collect as CPython does by default."""
    gc.set_threshold(*_STARTED_WITH)
