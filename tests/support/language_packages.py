"""Real PyPI wheels and npm tarballs, installed into staging trees the way pip/npm would.

Downloads are cached by file name; installing is unpacking: wheels into a
``site-packages`` tree (``.dist-info`` with ``INSTALLER``), npm tarballs into
``node_modules/<name>`` next to a ``package.json`` and a lockfileVersion 3
``package-lock.json`` whose ``integrity`` is computed from the tarball itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import posixpath
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

NPM_REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class Pin:
    """``name==version`` (PyPI) or ``name@version`` (npm)."""

    name: str
    version: str


def _run(command: Sequence[str], cwd: Path | None = None) -> None:
    result = subprocess.run(list(command), capture_output=True, check=False, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(
            f"{command[0]} {command[1]} failed ({result.returncode}): "
            f"{result.stderr.decode()[-2000:]}"
        )


def download_wheels(pins: Sequence[Pin], wheels_dir: Path, python_version: str) -> list[Path]:
    """``pip download`` binary wheels for CPython ``python_version`` on manylinux x86_64."""
    wheels_dir.mkdir(parents=True, exist_ok=True)

    def cached(pin: Pin) -> Path | None:
        prefix = f"{pin.name.replace('-', '_').lower()}-{pin.version}-"
        return next(
            (w for w in wheels_dir.glob("*.whl") if w.name.lower().startswith(prefix)), None
        )

    missing = [f"{pin.name}=={pin.version}" for pin in pins if cached(pin) is None]
    if missing:
        _run(
            [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--platform", "manylinux2014_x86_64",
                "--implementation", "cp", "--python-version", python_version,
                "--dest", str(wheels_dir), *missing,
            ]
        )  # fmt: skip
    wheels = {pin: cached(pin) for pin in pins}
    absent = [f"{pin.name}=={pin.version}" for pin, wheel in wheels.items() if wheel is None]
    if absent:
        raise RuntimeError(f"pip download left no wheel for {absent} in {wheels_dir}")
    return [wheel for wheel in wheels.values() if wheel is not None]


def install_wheel(wheel: Path, site_packages: Path, scripts: Path) -> None:
    """Unpack ``wheel`` as pip installs it (``*.data/`` spread out, ``INSTALLER`` added)."""
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir():
                continue
            if parts[0].endswith(".dist-info"):
                dist_info = site_packages / parts[0]
            is_data, is_script = parts[0].endswith(".data"), parts[1:2] == ("scripts",)
            base = scripts if is_data and is_script else site_packages
            destination = base / Path(*parts[2:]) if is_data else site_packages / info.filename
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(archive.read(info))
            if is_data and is_script:
                destination.chmod(0o755)
    (dist_info / "INSTALLER").write_text("pip\n")


def download_npm(pins: Sequence[Pin], npm_dir: Path) -> list[Path]:
    """``npm pack`` the exact versions from the npm registry (cached by file name)."""
    npm_dir.mkdir(parents=True, exist_ok=True)
    paths = [
        npm_dir / f"{pin.name.lstrip('@').replace('/', '-')}-{pin.version}.tgz" for pin in pins
    ]
    missing = [f"{pin.name}@{pin.version}" for pin, path in zip(pins, paths, strict=True)
               if not path.exists()]  # fmt: skip
    if missing:
        _run(["npm", "pack", "--silent", "--pack-destination", str(npm_dir), *missing])
    return paths


def _integrity(tarball: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()


def install_npm_app(
    app_name: str, pins: Sequence[Pin], tarballs: Sequence[Path], app: Path
) -> None:
    """Lay out ``app`` as ``npm install`` leaves it: manifests, lock file, node_modules."""
    packages: dict[str, object] = {
        "": {
            "name": app_name,
            "version": "1.0.0",
            "dependencies": {pin.name: pin.version for pin in pins},
        }
    }
    for pin, tarball in zip(pins, tarballs, strict=True):
        target = app / "node_modules" / pin.name
        with tarfile.open(tarball, "r:gz") as tar:
            for member in tar.getmembers():
                relative = posixpath.normpath(member.name).partition("/")[2]
                if not member.isfile() or not relative:
                    continue
                destination = target / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                assert extracted is not None
                with destination.open("wb") as out:
                    shutil.copyfileobj(extracted, out)
        manifest = json.loads((target / "package.json").read_text())
        packages[f"node_modules/{pin.name}"] = {
            "version": pin.version,
            "resolved": f"{NPM_REGISTRY}/{pin.name}/-/{tarball.name}",
            "integrity": _integrity(tarball),
            **(
                {"license": manifest["license"]} if isinstance(manifest.get("license"), str) else {}
            ),
        }
    root = packages[""]
    (app / "package.json").write_text(json.dumps(root, indent=2) + "\n")
    lock = {"name": app_name, "version": "1.0.0", "lockfileVersion": 3, "requires": True,
            "packages": packages}  # fmt: skip
    (app / "package-lock.json").write_text(json.dumps(lock, indent=2) + "\n")
