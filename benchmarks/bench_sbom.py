"""`tollgate sbom` against bare Syft (and Trivy) on the same registry image, in one run.

Builds the Debian 12 + PyPI + npm test image, pushes it to a local registry on
127.0.0.1, then times for each of N rounds:
  * bare `syft scan registry:IMAGE` (Syft pulls the image itself),
  * `tollgate sbom IMAGE` cold (empty data dir: pull, verify, catalog, render),
  * `tollgate sbom IMAGE` again (unchanged digest: served from cache),
and the same with Trivy when it is available. Prints medians and ratios.

    python -m benchmarks.bench_sbom [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import median, timed
from tests.support.images import debian_app_layout, push_layout
from tests.support.registry import LocalRegistry

SYFT = str(Path(sys.executable).with_name("syft"))
TOLLGATE = [sys.executable, "-m", "service.cli"]


def _engine_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    }


def _trivy() -> str | None:
    return os.environ.get("TOLLGATE_TRIVY_PATH") or shutil.which("trivy")


def bench(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as scratch:
        root = Path(scratch)
        with LocalRegistry(root / "registry") as registry:
            image = push_layout(debian_app_layout(), registry.host, "bench/debian-app")
            ref = image.reference
            print(f"image {ref} ({image.digest})")
            results: dict[str, list[float]] = {k: [] for k in
                                               ("syft", "cold", "warm", "trivy", "tg-trivy")}
            trivy = _trivy()
            for number in range(rounds):
                home = root / f"home-{number}"
                home.mkdir()
                env = {**os.environ, "TOLLGATE_DATA_DIR": str(root / f"data-{number}")}
                results["syft"].append(timed(
                    [SYFT, "scan", f"registry:{ref}", "-o", "syft-json", "-q"], _engine_env(home)))
                results["cold"].append(timed([*TOLLGATE, "sbom", ref], env))
                results["warm"].append(timed([*TOLLGATE, "sbom", ref], env))
                if trivy:
                    cache = home / "trivy-cache"
                    results["trivy"].append(timed(
                        [trivy, "image", "--insecure", "--format", "json", "--list-all-pkgs",
                         "--scanners", "license", "--offline-scan", "--skip-db-update",
                         "--skip-java-db-update", "--cache-dir", str(cache), "--quiet", ref],
                        _engine_env(home)))
                    trivy_env = {**env, "TOLLGATE_DATA_DIR": str(root / f"data-trivy-{number}"),
                                 "TOLLGATE_TRIVY_PATH": trivy}
                    results["tg-trivy"].append(timed(
                        [*TOLLGATE, "sbom", ref, "--engine", "trivy"], trivy_env))
    m = {k: median(v) for k, v in results.items() if v}
    print(f"rounds: {rounds}")
    print(f"bare syft (pulls itself)    {m['syft']:7.2f} s")
    print(f"tollgate sbom, cold         {m['cold']:7.2f} s   ratio to syft {m['cold'] / m['syft']:.3f}"
          f"  (overhead {100 * (m['cold'] / m['syft'] - 1):+.1f} %)")
    print(f"tollgate sbom, cached digest {m['warm']:6.2f} s   {100 * m['warm'] / m['cold']:.1f} % of cold")
    if "trivy" in m:
        print(f"bare trivy (pulls itself)   {m['trivy']:7.2f} s")
        print(f"tollgate sbom --engine trivy {m['tg-trivy']:6.2f} s   ratio to trivy "
              f"{m['tg-trivy'] / m['trivy']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    bench(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
