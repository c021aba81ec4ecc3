"""The C allocator's settings for a Tollgate process.

Reading layers moves them through 1 MiB buffers (inflated chunks, tar blocks, evidence
files) in several threads at once. glibc's malloc gives each thread that allocates
while another holds the lock a heap of its own, and buffers freed in those heaps stay
resident: after reading the layers of a 100-package image the process held 69-74 MiB
while the engine it then starts (Syft, ~130-150 MiB) ran beside it, 55-56 MiB with one
heap, for the same wall time on the 1 GB bench image (its layers read in two threads).
What counts is the sum the machine must hold at once. Keeping large buffers out of the
heaps altogether (a fixed M_MMAP_THRESHOLD) saved 13 MiB more but cost 0.4 s of system
time on that image, mapping and unmapping every buffer.
"""

from __future__ import annotations

import ctypes

_M_ARENA_MAX = -8  # glibc's mallopt parameter


def one_heap() -> bool:
    """Every thread allocates from the main heap; False where the C library has no
    ``mallopt`` (musl) or refuses the setting."""
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, 1))
