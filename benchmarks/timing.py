"""Shared helpers for the benchmarks: wall-clock timing of commands and medians."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_PAGE = os.sysconf("SC_PAGE_SIZE")


def timed(argv: Sequence[str], env: Mapping[str, str] | None = None) -> float:
    """Seconds one run of ``argv`` takes; a failing command aborts the benchmark."""
    started = time.perf_counter()
    subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - started


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _tree_memory(pid: int) -> int:
    """Proportional resident bytes (PSS) of ``pid`` and every process below it (0 once it
    is gone): a page shared by processes (a forked child's, a library's) counts once in
    all, shared out among them, where resident sizes would count it in each."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += _proportional(current)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def _proportional(pid: int) -> int:
    """PSS bytes of ``pid`` (its resident size where the kernel has no smaps_rollup)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except PermissionError:
        pass
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@dataclass(frozen=True)
class Run:
    """One run of a command: wall seconds (to the moment it exited), CPU seconds (user +
    system, its own and its children's) and the peak memory of its process tree (the
    proportional set sizes of the processes alive at once, summed, sampled every 50 ms)."""

    wall: float
    cpu: float
    peak: int


def measured(argv: Sequence[str], env: Mapping[str, str] | None = None) -> Run:
    """One run of ``argv``; a failing command aborts the benchmark. Its exit is waited
    for in a thread of its own, so the wall time does not include a sampling interval."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        ended: list[tuple[float, int, resource.struct_rusage]] = []

        def wait() -> None:
            _, status, usage = os.wait4(process.pid, 0)
            ended.append((time.perf_counter(), status, usage))

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        peak = 0
        while waiter.is_alive():
            peak = max(peak, _tree_memory(process.pid))
            waiter.join(0.05)
        [(finished, status, usage)] = ended
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            stderr.seek(0)
            raise subprocess.CalledProcessError(process.returncode, argv, stderr=stderr.read())
    return Run(finished - started, usage.ru_utime + usage.ru_stime, peak)
