"""Layer evidence: Tollgate's SBOM from cached layer evidence against bare Syft and Trivy.

Pushes the Debian 12 + PyPI + npm test image, the same image with one small layer
added (an npm package: new evidence), and twice with an application-code layer (two
releases: no evidence), to a local registry on 127.0.0.1, then times for each of N
rounds, each with empty caches:
  * bare `syft scan registry:BASE` and bare `trivy image BASE` (when Trivy is installed),
  * `tollgate sbom BASE` reading the whole image (the default) and from layer evidence
    (TOLLGATE_SYFT_LAYER_EVIDENCE=1), both cold,
  * `tollgate sbom DERIVED` from evidence once BASE was analysed (only the new layer is
    read) and cold in an empty data directory,
  * `tollgate sbom APP2` once APP1 was analysed (same evidence: Syft does not run) and cold.
Prints medians and ratios of wall time.

    python -m benchmarks.bench_layers [--rounds 3]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from benchmarks.timing import median, timed
from service.catalog.syft import wheel_binary
from service.catalog.trivy import listing_arguments
from tests.support.images import debian_app_layout
from tests.support.layers import LayerEntries, write_gzip_layer
from tests.support.oci import MEDIA_LAYER_GZIP, canonical_json, push, read_blob_json
from tests.support.registry import LocalRegistry

TOLLGATE = [sys.executable, "-m", "service.cli"]
SYFT = wheel_binary() or str(Path(sys.executable).with_name("syft"))
REF = "org.opencontainers.image.ref.name"
NPM_LAYER = {
    "app/node_modules/left-pad/package.json": b'{"name": "left-pad", "version": "1.3.0"}',
    "app/node_modules/left-pad/index.js": b"module.exports = function leftPad() {};\n" * 50,
}


def _app_layer(version: int) -> dict[str, bytes]:
    return {"srv/app/main.js": f"console.log('release {version}');\n".encode() * 100}


def _derived(base: Path, tag: str, target: Path, layer_entries: LayerEntries, name: str) -> str:
    """``base:tag`` with one more layer, as ``target:name``; returns ``name``."""
    shutil.copytree(base, target)
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


def bench(rounds: int) -> None:
    trivy = os.environ.get("TOLLGATE_TRIVY_PATH") or shutil.which("trivy")
    results: dict[str, list[float]] = {}

    def run(key: str, argv: list[str], env: dict[str, str]) -> None:
        results.setdefault(key, []).append(timed(argv, env))

    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as scratch:
        root = Path(scratch)
        built = debian_app_layout()
        with LocalRegistry(root / "registry") as registry:
            push(built.layout, built.tag, registry.host, "bench/base")
            base = f"{registry.host}/bench/base:{built.tag}"
            images = {}
            for name, entries in (
                ("npm", NPM_LAYER),
                ("app1", _app_layer(1)),
                ("app2", _app_layer(2)),
            ):
                tag = _derived(built.layout, built.tag, root / name, entries, name)
                push(root / name, tag, registry.host, f"bench/{name}")
                images[name] = f"{registry.host}/bench/{name}:{tag}"
            derived = images["npm"]
            for number in range(rounds):
                home = root / f"home-{number}"
                home.mkdir()
                run("syft", [SYFT, "scan", f"registry:{base}", "-o", "syft-json", "-q"],
                    _engine_env(home))  # fmt: skip
                if trivy:
                    command = [trivy, "image", "--insecure", *listing_arguments(home / "t"), base]
                    run("trivy", command, _engine_env(home))
                data = {**os.environ, "TOLLGATE_DATA_DIR": str(root / f"whole-{number}")}
                run("whole", [*TOLLGATE, "sbom", base], data)
                evidence = {
                    **os.environ,
                    "TOLLGATE_SYFT_LAYER_EVIDENCE": "true",
                    "TOLLGATE_DATA_DIR": str(root / f"evidence-{number}"),
                }
                run("evidence", [*TOLLGATE, "sbom", base], evidence)
                run("derived-on-base", [*TOLLGATE, "sbom", derived], evidence)
                run("app1-on-base", [*TOLLGATE, "sbom", images["app1"]], evidence)
                run("app2-on-app1", [*TOLLGATE, "sbom", images["app2"]], evidence)
                alone = {**evidence, "TOLLGATE_DATA_DIR": str(root / f"alone-{number}")}
                run("derived-cold", [*TOLLGATE, "sbom", derived], alone)
                alone = {**evidence, "TOLLGATE_DATA_DIR": str(root / f"alone-app-{number}")}
                run("app2-cold", [*TOLLGATE, "sbom", images["app2"]], alone)
    wall = {key: median(values) for key, values in results.items()}
    print(f"rounds: {rounds}   (medians of wall seconds; every run with empty caches)")
    print(f"bare syft scan registry:BASE             {wall['syft']:6.2f} s")
    if "trivy" in wall:
        print(f"bare trivy image BASE                    {wall['trivy']:6.2f} s")
    print(f"tollgate sbom BASE, whole image          {wall['whole']:6.2f} s")
    print(
        f"tollgate sbom BASE, layer evidence       {wall['evidence']:6.2f} s"
        f"   vs syft {wall['evidence'] / wall['syft']:.2f}x"
        + (f", vs trivy {wall['evidence'] / wall['trivy']:.2f}x" if "trivy" in wall else "")
    )
    print(f"tollgate sbom DERIVED, cold              {wall['derived-cold']:6.2f} s")
    print(
        f"tollgate sbom DERIVED, BASE analysed     {wall['derived-on-base']:6.2f} s"
        f"   {wall['derived-on-base'] / wall['derived-cold']:.2f}x its cold time"
    )
    print(f"tollgate sbom APP v2, cold               {wall['app2-cold']:6.2f} s")
    print(
        f"tollgate sbom APP v2, APP v1 analysed    {wall['app2-on-app1']:6.2f} s"
        f"   {wall['app2-on-app1'] / wall['app2-cold']:.2f}x its cold time"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    bench(parser.parse_args().rounds)


if __name__ == "__main__":
    main()
