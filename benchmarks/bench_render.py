"""Rendering SBOMs alone: CycloneDX and SPDX of a real ~450-package catalog, in process.

The catalog is Syft's report on the ``debian-large`` test image (Debian 12 with ~320
packages, Ruby gems, npm and PyPI packages: 450 in all), read as Tollgate reads it. The
report is cached beside the image's layout, per Syft version, so only the first run
waits for Syft. Times, for each format, the first render of the process (the writer's
import and its schema validator built) and the median CPU and wall time of N renders
after it: what a push that needs no engine run still pays per document.

    python -m benchmarks.bench_render [--rounds 7] [--format cyclonedx-json|spdx-json …]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.timing import median
from service.catalog.model import Catalog, ImageSubject
from service.catalog.syft import syft_environment, wheel_binary
from service.catalog.syft_report import SyftDocument, catalog_from_syft
from service.sbom import SbomFormat, render
from tests.support.images import BuiltLayout, debian_large_layout

CREATED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def _syft_report(built: BuiltLayout) -> Path:
    """Syft's report on the layout, from the cache or from a Syft run."""
    syft = wheel_binary() or "syft"
    version = json.loads(subprocess.run([syft, "version", "-o", "json"], check=True,
                                        capture_output=True).stdout)["version"]  # fmt: skip
    report = built.layout.parent / f"syft-{version}.json"
    if not report.exists():
        scan = [syft, "scan", f"oci-dir:{built.layout}", "-o", "syft-json", "-q",
                "--platform", "linux/amd64"]  # fmt: skip
        output = subprocess.run(scan, env=syft_environment(), check=True, capture_output=True)
        report.with_suffix(".partial").write_bytes(output.stdout)
        report.with_suffix(".partial").rename(report)
    return report


def _catalog(report: Path) -> Catalog:
    raw = json.loads(report.read_text())
    subject = ImageSubject(
        reference="127.0.0.1:5000/bench/debian-large:1",
        digest=raw["source"]["metadata"]["manifestDigest"],
        platform="linux/amd64",
    )
    return catalog_from_syft(
        SyftDocument.model_validate(raw), subject, engine_version=raw["descriptor"]["version"]
    )


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    action()
    return time.process_time() - cpu, time.perf_counter() - wall


def bench(rounds: int, formats: list[SbomFormat]) -> None:
    catalog = _catalog(_syft_report(debian_large_layout()))
    print(f"catalog: {len(catalog.packages)} packages from syft {catalog.engine_version}")
    print(f"rounds: {rounds}   (cpu = user + system seconds of this process)")
    for fmt in formats:
        first, _ = _timed(lambda fmt=fmt: render(catalog, fmt, created=CREATED))
        runs = [
            _timed(lambda fmt=fmt: render(catalog, fmt, created=CREATED)) for _ in range(rounds)
        ]
        size = len(render(catalog, fmt, created=CREATED)) / 1e6
        cpu, wall = median([c for c, _ in runs]), median([w for _, w in runs])
        row = f"first render cpu {first:6.3f} s   then median cpu {cpu:6.3f} s, wall {wall:6.3f} s"
        print(f"{fmt.value:<15} {row}   ({size:.2f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--format", type=SbomFormat, action="append", help="default: both")
    arguments = parser.parse_args()
    bench(arguments.rounds, arguments.format or list(SbomFormat))


if __name__ == "__main__":
    main()
