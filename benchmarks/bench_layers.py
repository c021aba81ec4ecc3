"""Layer evidence: Tollgate's SBOM from cached layer evidence against bare Syft and Trivy.

Pushes a test image (``--image app``: Debian 12 minbase + PyPI + npm, ~100 packages;
``--image large``: the same on a ~1 GB Debian 12 with ~320 packages), the same image
with one small layer added (an npm package, or a pip-installed package: new evidence),
and twice with an application-code layer (two releases: no evidence), to a local
registry on 127.0.0.1, and writes the base and the npm image as ``docker save``
archives (cached under ``.cache/bench-archives``). Then times for each of N rounds,
each with empty caches:
  * bare `syft scan` and bare `trivy image` (when Trivy is installed) of BASE from the
    registry and from the archive, with the peak memory of each,
  * `tollgate sbom BASE` reading the whole image (TOLLGATE_SYFT_LAYER_EVIDENCE=0) and
    from layer evidence (the default), cold, from the registry and from the archive,
  * `tollgate sbom DERIVED` from evidence once BASE was analysed (only the new layer is
    read) and cold in an empty data directory, from the registry and the archive (PIP,
    the pip layer's image, once BASE was analysed; its cold time is DERIVED's),
  * `tollgate sbom APP2` once APP1 was analysed (same evidence: Syft does not run) and cold,
  * `tollgate sbom DERIVED` once BASE was analysed, run by a resident process
    (``TOLLGATE_RESIDENT_IDLE``, started by an untimed command: imports paid once),
    from the registry and the archive (its CPU is the caller's alone, its peak not shown),
  * and in one process, as a running service makes them (imports paid once, before the
    first: ``benchmarks/in_process.py``), BASE cold, then DERIVED, PIP and APP1 once BASE
    was analysed, and DERIVED cold, from the registry and the archive: a push's cost
    where pushes are scanned.
Prints medians of wall time, of its ratios (each to a run of the same round) and of peak
memory (the proportional set sizes of a run's processes alive at once, summed: a page
shared by a forked child and its parent counts once), and checks that the
layer-evidence SBOMs of BASE list the components whole-image Syft lists (the only parity
check of the large image, which the suite does not build).

    python -m benchmarks.bench_layers [--rounds 3] [--image app|large]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.timing import Run, measured, median
from service.catalog.syft import wheel_binary
from service.catalog.trivy import listing_arguments
from service.cli import resident
from tests.support.archives import write_docker_archive
from tests.support.images import REPO_ROOT, debian_app_layout, debian_large_layout
from tests.support.layers import LayerEntries, write_gzip_layer
from tests.support.oci import (
    MEDIA_LAYER_GZIP,
    canonical_json,
    layout_digest,
    push,
    read_blob_json,
)
from tests.support.registry import LocalRegistry

TOLLGATE = [sys.executable, "-m", "service.cli"]
SYFT = wheel_binary() or str(Path(sys.executable).with_name("syft"))
REF = "org.opencontainers.image.ref.name"
ARCHIVES = REPO_ROOT / ".cache" / "bench-archives"
NPM_LAYER = {
    "app/node_modules/left-pad/package.json": b'{"name": "left-pad", "version": "1.3.0"}',
    "app/node_modules/left-pad/index.js": b"module.exports = function leftPad() {};\n" * 50,
}


_SIX = "usr/local/lib/python3.11/site-packages/six-1.16.0.dist-info"
PIP_LAYER = {
    f"{_SIX}/METADATA": (
        b"Metadata-Version: 2.1\nName: six\nVersion: 1.16.0\n"
        b"Summary: Python 2 and 3 compatibility utilities\n"
        b"Author: Benjamin Peterson\nAuthor-email: benjamin@python.org\nLicense: MIT\n"
    ),
    f"{_SIX}/RECORD": b"six.py,sha256=abc,34549\nsix-1.16.0.dist-info/METADATA,,\n",
    f"{_SIX}/top_level.txt": b"six\n",
    "usr/local/lib/python3.11/site-packages/six.py": b"# six\n" * 100,
}


def _app_layer(version: int) -> dict[str, bytes]:
    return {"srv/app/main.js": f"console.log('release {version}');\n".encode() * 100}


def _derived(base: Path, tag: str, target: Path, layer_entries: LayerEntries, name: str) -> str:
    """``base:tag`` with one more layer, as ``target:name``; returns ``name``."""
    shutil.copytree(base, target, copy_function=os.link)  # blobs are never written to
    index = json.loads((target / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if m["annotations"].get(REF) == tag]
    manifest = read_blob_json(target, entry["digest"])
    config = read_blob_json(target, manifest["config"]["digest"])
    layer = write_gzip_layer(layer_entries, target / "blobs" / "sha256")
    config["rootfs"]["diff_ids"].append(layer.diff_id)
    config.setdefault("history", []).append({"created_by": f"add {name}"})
    config_bytes = canonical_json(config)
    manifest["config"] = {**manifest["config"], **_blob(target, config_bytes)}
    manifest["layers"].append(
        {"mediaType": MEDIA_LAYER_GZIP, "digest": layer.digest, "size": layer.size}
    )
    manifest_bytes = canonical_json(manifest)
    descriptor = {"mediaType": entry["mediaType"], **_blob(target, manifest_bytes)}
    index["manifests"] = [{**descriptor, "annotations": {REF: name}}]
    (target / "index.json").unlink()  # a hard link to the base layout's
    (target / "index.json").write_bytes(canonical_json(index))
    return name


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def _engine_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "SYFT_CHECK_FOR_APP_UPDATE": "false",
        "SYFT_REGISTRY_INSECURE_USE_HTTP": "true",
    }


def _archive(layout: Path, tag: str, name: str) -> Path:
    """``layout:tag`` as a ``docker save`` archive, cached by the image's digest."""
    digest = layout_digest(layout, tag).split(":", 1)[1]
    archive = ARCHIVES / f"{name}-{digest[:16]}.tar"
    if not archive.exists():
        ARCHIVES.mkdir(parents=True, exist_ok=True)
        partial = archive.with_suffix(".partial")
        write_docker_archive(layout, tag, partial, repo_tag=f"bench/{name}:{tag}")
        partial.replace(archive)
    return archive


class _Resident:
    """A resident process (``TOLLGATE_RESIDENT_IDLE``) for runs of one round: its socket
    in a directory of the benchmark's own, stopped at the end."""

    def __init__(self, root: Path) -> None:
        self._root = root  # short: a socket's path holds at most 107 bytes
        self._directory = root / f"tollgate-{os.getuid()}"

    def __enter__(self) -> _Resident:
        return self

    def __exit__(self, *exc: object) -> None:
        for lock in self._directory.glob("*.lock"):
            pid = resident.serving(lock.with_suffix(".sock"))  # None: it ended already
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self._root, ignore_errors=True)

    def env(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "TOLLGATE_RESIDENT_IDLE": "600", "TMPDIR": str(self._root),
                "XDG_RUNTIME_DIR": ""}  # fmt: skip

    def start(self, env: dict[str, str], image: str) -> None:
        """Start it with ``tollgate sbom IMAGE`` (untimed), and wait until it serves."""
        argv = [*TOLLGATE, "sbom", image]
        subprocess.run(argv, env=self.env(env), check=True, stdout=subprocess.DEVNULL)
        for _ in range(1200):
            logs = "".join(log.read_text() for log in self._directory.glob("*.log"))
            if "serving on" in logs:
                return
            time.sleep(0.05)
        raise SystemExit(f"no resident process answered: {logs}")


class _Runs:
    """Wall and CPU seconds and peak memory (PSS, summed over its processes) of each kind
    of run."""

    def __init__(self) -> None:
        self.runs: dict[str, list[Run]] = {}

    def run(self, key: str, argv: list[str], env: dict[str, str]) -> None:
        self.runs.setdefault(key, []).append(measured(argv, env))

    def served(self, key: str, argv: list[str], env: dict[str, str]) -> None:
        """A run whose work a resident process does: the caller's CPU only, no peak."""
        run = measured(argv, env)
        self.runs.setdefault(key, []).append(Run(run.wall, run.cpu, 0))

    def in_process(self, jobs: list[tuple[str, Path, str]], env: dict[str, str]) -> None:
        """``jobs`` (key, data directory, image) run in one process, in order; no peak."""
        argv = [sys.executable, "-m", "benchmarks.in_process"]
        for _key, data_dir, image in jobs:
            argv += [str(data_dir), image]
        timings = json.loads(subprocess.run(argv, env=env, check=True, capture_output=True).stdout)
        for (key, _data_dir, _image), timing in zip(jobs, timings, strict=True):
            self.runs.setdefault(key, []).append(Run(timing["wall"], timing["cpu"], 0))

    def medians(self) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        return (
            {key: median([r.wall for r in runs]) for key, runs in self.runs.items()},
            {key: median([r.cpu for r in runs]) for key, runs in self.runs.items()},
            {key: median([r.peak for r in runs]) / 2**20 for key, runs in self.runs.items()},
        )

    def ratio(self, key: str, base: str, measure: str) -> float:
        """The median over the rounds of ``key``'s ``measure`` (wall or cpu) over ``base``'s
        in the same round: runs minutes apart on a shared machine may not run at the same
        speed, runs of one round ran seconds apart."""
        return median(
            [
                getattr(run, measure) / getattr(other, measure)
                for run, other in zip(self.runs[key], self.runs[base], strict=True)
            ]
        )


def bench(rounds: int, large: bool) -> None:
    trivy = os.environ.get("TOLLGATE_TRIVY_PATH") or shutil.which("trivy")
    runs = _Runs()
    built = debian_large_layout() if large else debian_app_layout()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as scratch:
        root = Path(scratch)
        with LocalRegistry(root / "registry") as registry:
            push(built.layout, built.tag, registry.host, "bench/base")
            base = f"{registry.host}/bench/base:{built.tag}"
            images, layouts = {}, {}
            for name, entries in (
                ("npm", NPM_LAYER),
                ("pip", PIP_LAYER),
                ("app1", _app_layer(1)),
                ("app2", _app_layer(2)),
            ):
                layouts[name] = root / name
                tag = _derived(built.layout, built.tag, layouts[name], entries, name)
                push(layouts[name], tag, registry.host, f"bench/{name}")
                images[name] = f"{registry.host}/bench/{name}:{tag}"
            derived = images["npm"]
            base_archive = _archive(built.layout, built.tag, "base")
            derived_archive = _archive(layouts["npm"], "npm", "npm")
            for number in range(rounds):
                _round(runs, root / f"round-{number}", trivy, base, derived, images)
                _archive_round(
                    runs, root / f"archive-{number}", trivy, base_archive, derived_archive
                )
        parity = _parity(root)
    _report(rounds, large, runs)
    print(parity)


# the SBOM of BASE each kind of run writes, in its round's directory
SBOMS = {"whole": "whole.cdx.json", "evidence": "evidence.cdx.json", "a-evidence": "a.cdx.json"}


def _parity(root: Path) -> str:
    """Whether the first round's layer-evidence SBOMs of BASE (from the registry and the
    archive) list exactly the components (name, version, type, purl, licences, CPEs,
    locations and layers as properties) of whole-image Syft's; the benchmark stops if not:
    a time for a wrong answer is no result."""
    whole, *others = (
        json.loads((root / directory / SBOMS[key]).read_text())["components"]
        for directory, key in (("round-0", "whole"), ("round-0", "evidence"),
                               ("archive-0", "a-evidence"))
    )  # fmt: skip
    for label, components in zip(("registry", "archive"), others, strict=True):
        if components != whole:
            missing = [c["bom-ref"] for c in whole if c not in components]
            extra = [c["bom-ref"] for c in components if c not in whole]
            raise SystemExit(f"{label}: layer evidence differs from Syft: {missing=} {extra=}")
    return (
        f"parity: the layer-evidence SBOMs of BASE (registry, archive) list the same "
        f"{len(whole)} components as whole-image Syft's, field for field"
    )


def _round(
    runs: _Runs, root: Path, trivy: str | None, base: str, derived: str, images: dict[str, str]
) -> None:
    home = root / "home"
    home.mkdir(parents=True)
    runs.run("syft", [SYFT, "scan", f"registry:{base}", "-o", "syft-json", "-q"],
             _engine_env(home))  # fmt: skip
    if trivy:
        command = [trivy, "image", "--insecure", *listing_arguments(home / "t"), base]
        runs.run("trivy", command, _engine_env(home))
    whole = {
        **os.environ,
        "TOLLGATE_SYFT_LAYER_EVIDENCE": "false",
        "TOLLGATE_DATA_DIR": str(root / "whole"),
    }
    runs.run("whole", [*TOLLGATE, "sbom", base, "-o", str(root / SBOMS["whole"])], whole)
    evidence = {
        **os.environ,
        "TOLLGATE_SYFT_LAYER_EVIDENCE": "true",
        "TOLLGATE_DATA_DIR": str(root / "evidence"),
    }
    runs.run("evidence", [*TOLLGATE, "sbom", base, "-o", str(root / SBOMS["evidence"])], evidence)
    shutil.copytree(root / "evidence", root / "resident")  # BASE analysed, DERIVED not
    runs.run("derived-on-base", [*TOLLGATE, "sbom", derived], evidence)
    runs.run("pip-on-base", [*TOLLGATE, "sbom", images["pip"]], evidence)
    runs.run("app1-on-base", [*TOLLGATE, "sbom", images["app1"]], evidence)
    runs.run("app2-on-app1", [*TOLLGATE, "sbom", images["app2"]], evidence)
    alone = {**evidence, "TOLLGATE_DATA_DIR": str(root / "alone")}
    runs.run("derived-cold", [*TOLLGATE, "sbom", derived], alone)
    alone = {**evidence, "TOLLGATE_DATA_DIR": str(root / "alone-app")}
    runs.run("app2-cold", [*TOLLGATE, "sbom", images["app2"]], alone)
    with _Resident(Path(tempfile.mkdtemp(prefix="tg-", dir="/tmp"))) as resident:
        served = resident.env({**evidence, "TOLLGATE_DATA_DIR": str(root / "resident")})
        resident.start(served, base)
        runs.served("derived-resident", [*TOLLGATE, "sbom", derived], served)
    service, cold = root / "service", root / "service-alone"
    jobs = [("s-evidence", service, base), ("s-derived-on-base", service, derived),
            ("s-pip-on-base", service, images["pip"]), ("s-app1-on-base", service, images["app1"]),
            ("s-derived-cold", cold, derived)]  # fmt: skip
    runs.in_process(jobs, evidence)


def _archive_round(runs: _Runs, root: Path, trivy: str | None, base: Path, derived: Path) -> None:
    home = root / "home"
    home.mkdir(parents=True)
    runs.run("a-syft", [SYFT, "scan", f"docker-archive:{base}", "-o", "syft-json", "-q"],
             _engine_env(home))  # fmt: skip
    if trivy:
        command = [trivy, "image", *listing_arguments(home / "t"), "--input", str(base)]
        runs.run("a-trivy", command, _engine_env(home))
    evidence = {
        **os.environ,
        "TOLLGATE_SYFT_LAYER_EVIDENCE": "true",
        "TOLLGATE_DATA_DIR": str(root / "evidence"),
    }
    command = [*TOLLGATE, "sbom", f"docker-archive:{base}", "-o", str(root / SBOMS["a-evidence"])]
    runs.run("a-evidence", command, evidence)
    shutil.copytree(root / "evidence", root / "resident")  # BASE analysed, DERIVED not
    runs.run("a-derived-on-base", [*TOLLGATE, "sbom", f"docker-archive:{derived}"], evidence)
    alone = {**evidence, "TOLLGATE_DATA_DIR": str(root / "alone")}
    runs.run("a-derived-cold", [*TOLLGATE, "sbom", f"docker-archive:{derived}"], alone)
    with _Resident(Path(tempfile.mkdtemp(prefix="tg-", dir="/tmp"))) as resident:
        served = resident.env({**evidence, "TOLLGATE_DATA_DIR": str(root / "resident")})
        resident.start(served, f"docker-archive:{base}")
        command = [*TOLLGATE, "sbom", f"docker-archive:{derived}"]
        runs.served("a-derived-resident", command, served)
    service, cold = root / "service", root / "service-alone"
    jobs = [("as-evidence", service, f"docker-archive:{base}"),
            ("as-derived-on-base", service, f"docker-archive:{derived}"),
            ("as-derived-cold", cold, f"docker-archive:{derived}")]  # fmt: skip
    runs.in_process(jobs, evidence)


# (section, label, key, what its ratios are to)
_ROWS = (
    ("from the registry", "bare syft scan registry:BASE", "syft", ()),
    ("", "bare trivy image BASE", "trivy", ()),
    ("", "tollgate sbom BASE, whole image", "whole", ("syft", "trivy")),
    ("", "tollgate sbom BASE, layer evidence", "evidence", ("syft", "trivy")),
    ("", "tollgate sbom DERIVED, cold", "derived-cold", ()),
    ("", "tollgate sbom DERIVED, BASE analysed", "derived-on-base", ("derived-cold",)),
    ("", "  the same, run by a resident process", "derived-resident", ("derived-cold",)),
    ("", "tollgate sbom PIP, BASE analysed", "pip-on-base", ("derived-cold",)),
    ("", "tollgate sbom APP v1, BASE analysed", "app1-on-base", ("derived-cold",)),
    ("", "tollgate sbom APP v2, cold", "app2-cold", ()),
    ("", "tollgate sbom APP v2, APP v1 analysed", "app2-on-app1", ("app2-cold",)),
    ("from a docker save archive", "bare syft scan docker-archive:BASE", "a-syft", ()),
    ("", "bare trivy image --input BASE", "a-trivy", ()),
    ("", "tollgate sbom BASE, layer evidence", "a-evidence", ("a-syft", "a-trivy")),
    ("", "tollgate sbom DERIVED, cold", "a-derived-cold", ()),
    ("", "tollgate sbom DERIVED, BASE analysed", "a-derived-on-base", ("a-derived-cold",)),
    ("", "  the same, run by a resident process", "a-derived-resident", ("a-derived-cold",)),
    ("in one process (a running service: imports paid once)", "sbom BASE", "s-evidence", ()),
    ("", "sbom DERIVED, cold", "s-derived-cold", ()),
    ("", "sbom DERIVED, BASE analysed", "s-derived-on-base", ("s-derived-cold",)),
    ("", "sbom PIP, BASE analysed", "s-pip-on-base", ("s-derived-cold",)),
    ("", "sbom APP v1, BASE analysed", "s-app1-on-base", ("s-derived-cold",)),
    ("", "sbom archive BASE", "as-evidence", ()),
    ("", "sbom archive DERIVED, cold", "as-derived-cold", ()),
    ("", "sbom archive DERIVED, BASE analysed", "as-derived-on-base", ("as-derived-cold",)),
)


def _report(rounds: int, large: bool, runs: _Runs) -> None:
    wall, cpu, peak = runs.medians()
    print(f"image: {'large' if large else 'app'}   rounds: {rounds}   (medians; every run")
    print("with empty caches but those named; cpu: user + system; peak: PSS summed over")
    print("the processes of a run alive at once;")
    print("a ratio is the median of the ratios of runs of one round)")
    print(f"{'':44} {'wall':>8} {'cpu':>8} {'peak':>9}   wall (cpu) ratio to")
    for section, label, key, bases in _ROWS:
        if section:
            print(f"{section}:")
        if key not in wall:
            continue
        ratios = ", ".join(
            f"{b} {runs.ratio(key, b, 'wall'):.2f}x ({runs.ratio(key, b, 'cpu'):.2f}x)"
            for b in bases
            if b in wall
        )
        memory = f"{peak[key]:5.0f} MiB" if peak[key] else "        -"
        print(f"  {label:<42} {wall[key]:6.2f} s {cpu[key]:6.2f} s {memory}   {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image", choices=("app", "large"), default="app")
    arguments = parser.parse_args()
    bench(arguments.rounds, arguments.image == "large")


if __name__ == "__main__":
    main()
