"""SBOMs made one after another in one process, as a running service (``tollgate serve``,
a worker) makes them: the interpreter and its imports are paid once, before the first.

    python -m benchmarks.in_process DATA_DIR IMAGE [DATA_DIR IMAGE ...]

Prints one JSON list: for each pair, the wall and CPU seconds (this process's, its
threads' and its children's: Syft's, when it runs) of the CycloneDX SBOM of IMAGE with
the data directory DATA_DIR. What the caches of DATA_DIR hold is what earlier pairs
left there.
"""

from __future__ import annotations

import dataclasses
import json
import resource
import sys
import time
from pathlib import Path

from service.image.reference import parse_reference
from service.layers import analyzer  # noqa: F401 - imported before the first timing
from service.sbom import SbomFormat, cyclonedx  # noqa: F401 - likewise
from service.settings import get_settings
from service.wiring import sbom_orchestrator


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(arguments: list[str]) -> None:
    timings = []
    for data_dir, image in zip(arguments[::2], arguments[1::2], strict=True):
        settings = dataclasses.replace(get_settings(), data_dir=Path(data_dir))
        started, cpu = time.perf_counter(), _cpu()
        with sbom_orchestrator(settings, SbomFormat.CYCLONEDX_JSON) as orchestrator:
            orchestrator.sbom_of(parse_reference(image), SbomFormat.CYCLONEDX_JSON)
        timings.append({"wall": time.perf_counter() - started, "cpu": _cpu() - cpu})
    print(json.dumps(timings))


if __name__ == "__main__":
    main(sys.argv[1:])
