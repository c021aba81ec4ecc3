"""Real test images, built once and cached under ``<repo>/.cache/test-images/``.

``debian-app``: a Debian 12 minbase root filesystem (real .debs, real dpkg database),
a layer of Python packages from real PyPI wheels and a layer of an npm app from real
npm tarballs, all with versions that have published advisories.  The cache key is a
hash of the recipe (package pins + builder version), so a rerun reuses the layout and
a changed recipe builds a new one; downloads are shared between recipes.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from tests.support import rootfs
from tests.support.language_packages import (
    Pin,
    download_npm,
    download_wheels,
    install_npm_app,
    install_wheel,
)
from tests.support.layers import LayerEntries
from tests.support.oci import History, HostTree, ImageSpec, push, write_image

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_ROOT = REPO_ROOT / ".cache" / "test-images"
# The cache key covers the builder code too, so changing how images are built rebuilds them.
BUILDER_SOURCES = ("images.py", "rootfs.py", "language_packages.py", "layers.py", "oci.py")

PYTHON_VERSION = "3.11"
PYTHON_PINS = (
    Pin("django", "3.2"),
    Pin("urllib3", "1.26.4"),
    Pin("jinja2", "2.11.2"),
    Pin("requests", "2.25.0"),
    Pin("aiohttp", "3.8.3"),
)
NPM_PINS = (Pin("lodash", "4.17.11"), Pin("minimist", "0.2.0"), Pin("qs", "6.2.0"))
APP_USER, APP_UID = "app", 1000
DEBIAN_APP_TAG = "1"
# What ``debian-large`` installs on minbase: about 320 packages, 1.1 GB installed.
LARGE_EXTRA = (
    "build-essential", "python3-dev", "python3-pip", "ruby-full", "nodejs", "perl", "git",
    "curl", "wget", "openjdk-17-jre-headless", "vim-nox", "less", "procps", "openssh-client",
    "ca-certificates", "libpq-dev", "postgresql-client", "libxml2-dev", "libssl-dev",
    "libffi-dev", "zlib1g-dev", "libyaml-dev", "sqlite3", "unzip", "gnupg", "locales",
    "imagemagick",
)  # fmt: skip


@dataclass(frozen=True)
class BuiltLayout:
    """A cached image layout and what went into it (read back from ``build.json``)."""

    layout: Path
    tag: str
    digest: str  # manifest digest
    debian_packages: tuple[tuple[str, str], ...]  # (name, version) as resolved by apt
    python_packages: tuple[tuple[str, str], ...]
    npm_packages: tuple[tuple[str, str], ...]
    build_seconds: float  # how long the cold build took


def _recipe_key() -> str:
    recipe = {
        "builder": [
            hashlib.sha256((Path(__file__).parent / name).read_bytes()).hexdigest()
            for name in BUILDER_SOURCES
        ],
        "debian": {"base": "bookworm minbase", "extra": list(rootfs.EXTRA_PACKAGES)},
        "python": [asdict(pin) for pin in PYTHON_PINS],
        "python_version": PYTHON_VERSION,
        "npm": [asdict(pin) for pin in NPM_PINS],
        "user": [APP_USER, APP_UID],
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """One builder at a time across processes (other test sessions may share the cache)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _load(directory: Path) -> BuiltLayout:
    record = json.loads((directory / "build.json").read_text())
    return BuiltLayout(
        layout=directory / "layout",
        tag=record["tag"],
        digest=record["digest"],
        debian_packages=tuple(tuple(p) for p in record["debian_packages"]),
        python_packages=tuple(tuple(p) for p in record["python_packages"]),
        npm_packages=tuple(tuple(p) for p in record["npm_packages"]),
        build_seconds=record["build_seconds"],
    )


def _language_layers(work: Path, downloads: Path) -> tuple[list[LayerEntries], list[History]]:
    """The Python and npm layers of the test images (staged under ``work``), and their
    history entries."""
    site_packages = work / "python" / "site-packages"
    scripts = work / "python" / "bin"
    scripts.mkdir(parents=True)
    for wheel in download_wheels(PYTHON_PINS, downloads / "wheels", PYTHON_VERSION):
        install_wheel(wheel, site_packages, scripts)
    tarballs = download_npm(NPM_PINS, downloads / "npm")
    install_npm_app("tollgate-test-app", NPM_PINS, tarballs, work / "app")
    pip_line = " ".join(f"{p.name}=={p.version}" for p in PYTHON_PINS)
    npm_line = " ".join(f"{p.name}@{p.version}" for p in NPM_PINS)
    layers: list[LayerEntries] = [
        {
            f"usr/local/lib/python{PYTHON_VERSION}/site-packages": HostTree(site_packages),
            "usr/local/bin": HostTree(scripts),
        },
        {"app": HostTree(work / "app")},
    ]
    return layers, [
        History(f"pip install --no-deps {pip_line}"),
        History(f"npm install {npm_line}"),
    ]


def _record(digest: str, packages: list[rootfs.DebianPackage], started: float) -> dict[str, object]:
    return {
        "tag": DEBIAN_APP_TAG,
        "digest": digest,
        "debian_packages": [[p.name, p.version] for p in packages],
        "python_packages": [[p.name, p.version] for p in PYTHON_PINS],
        "npm_packages": [[p.name, p.version] for p in NPM_PINS],
        "build_seconds": round(time.monotonic() - started, 1),
    }


def _build_debian_app(work: Path, downloads: Path) -> dict[str, object]:
    """Stage the three layer trees under ``work`` and write ``work/layout``."""
    started = time.monotonic()
    packages = rootfs.resolve_minbase()
    base = work / "rootfs"
    rootfs.build_rootfs(rootfs.download(packages, downloads / "debs"), base)
    rootfs.add_user(base, APP_USER, APP_UID)
    languages, history = _language_layers(work, downloads)
    spec = ImageSpec(
        layers=[{"": HostTree(base)}, *languages],
        user=APP_USER,
        cmd=("/bin/bash",),
        labels={"org.opencontainers.image.title": "tollgate-test/debian-app"},
        history=(
            History(f"debian bookworm minbase rootfs: {len(packages)} packages; useradd app"),
            *history,
            History("USER app", empty_layer=True),
            History('CMD ["/bin/bash"]', empty_layer=True),
        ),
    )
    image = write_image(work / "layout", spec, tag=DEBIAN_APP_TAG)
    return _record(image.digest, packages, started)


def _cached_layout(
    name: str, key: str, build: Callable[[Path, Path], dict[str, object]], cache_root: Path
) -> BuiltLayout:
    """The layout ``name-key`` under ``cache_root``, built by ``build(work, downloads)``
    first if none is cached (older builds of ``name`` are removed)."""
    final = cache_root / f"{name}-{key}"
    with _exclusive(cache_root / f".{name}-{key}.lock"):
        if not (final / "build.json").exists():
            work = cache_root / f".work-{final.name}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            record = build(work, cache_root / "downloads")
            shutil.rmtree(final, ignore_errors=True)
            final.mkdir()
            (work / "layout").rename(final / "layout")
            (final / "build.json").write_text(json.dumps(record, indent=2))
            shutil.rmtree(work)
            logger.info("built %s in %ss", final, record["build_seconds"])
            for stale in cache_root.glob(f"{name}-*"):
                if stale != final:  # built by older builder code or an older recipe
                    shutil.rmtree(stale)
    return _load(final)


def debian_app_layout(cache_root: Path = CACHE_ROOT) -> BuiltLayout:
    """The cached ``debian-app`` layout, building it first if this recipe has none yet."""
    return _cached_layout("debian-app", _recipe_key(), _build_debian_app, cache_root)


def _build_debian_large(work: Path, downloads: Path) -> dict[str, object]:
    """A Debian base layer (minbase), an ``apt-get install`` layer of :data:`LARGE_EXTRA`
    (what it changes, the dpkg database included), and the Python and npm layers of
    ``debian-app``."""
    started = time.monotonic()
    debs = downloads / "debs"
    base_packages = rootfs.resolve_minbase()
    packages = rootfs.resolve_minbase(LARGE_EXTRA)
    base, full = work / "base", work / "full"
    rootfs.build_rootfs(rootfs.download(base_packages, debs), base)
    rootfs.build_rootfs(rootfs.download(packages, debs), full)
    installed = work / "installed"
    rootfs.changed_tree(base, full, installed)
    languages, history = _language_layers(work, downloads)
    spec = ImageSpec(
        layers=[{"": HostTree(base)}, {"": HostTree(installed)}, *languages],
        cmd=("/bin/bash",),
        labels={"org.opencontainers.image.title": "tollgate-test/debian-large"},
        history=(
            History(f"debian bookworm minbase rootfs: {len(base_packages)} packages"),
            History(f"apt-get install {' '.join(LARGE_EXTRA)}"),
            *history,
            History('CMD ["/bin/bash"]', empty_layer=True),
        ),
    )
    image = write_image(work / "layout", spec, tag=DEBIAN_APP_TAG)
    return _record(image.digest, packages, started)


def debian_large_layout(cache_root: Path = CACHE_ROOT) -> BuiltLayout:
    """The cached ``debian-large`` layout (about 1 GB, a few hundred packages, for
    benchmarks), building it first if this recipe has none yet."""
    key = hashlib.sha256(f"{_recipe_key()} {LARGE_EXTRA}".encode()).hexdigest()[:16]
    return _cached_layout("debian-large", key, _build_debian_large, cache_root)


@dataclass(frozen=True)
class PushedImage:
    """A cached layout pushed to a registry. Treat ``layout`` as read-only: it is shared."""

    layout: Path
    tag: str
    registry_host: str
    repository: str
    digest: str  # manifest digest, identical in the layout and in the registry
    built: BuiltLayout

    @property
    def reference(self) -> str:
        return f"{self.registry_host}/{self.repository}:{self.tag}"

    @property
    def pinned_reference(self) -> str:
        return f"{self.registry_host}/{self.repository}@{self.digest}"


def push_layout(built: BuiltLayout, registry_host: str, repository: str) -> PushedImage:
    digest = push(built.layout, built.tag, registry_host, repository)
    return PushedImage(built.layout, built.tag, registry_host, repository, digest, built)
