"""Which feeds Tollgate imports: the default list, and ``--source`` specs naming others."""

from __future__ import annotations

from pathlib import Path

from service.errors import VulnDBError
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.debian_tracker import DebianTrackerFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.versions import is_supported

DEFAULT_OSV_ECOSYSTEMS = (
    "PyPI",
    "npm",
    "Go",
    "Maven",
    "crates.io",
    "RubyGems",
    "NuGet",
    "Debian",
    "Ubuntu",
    "Alpine",
)


def default_feeds() -> list[Feed]:
    """The public OSV bucket, one feed per ecosystem Tollgate matches."""
    return [OSVFeed(ecosystem) for ecosystem in DEFAULT_OSV_ECOSYSTEMS]


def feed_for(spec: str) -> Feed:
    """``ECOSYSTEM=URL|PATH`` (OSV) or ``alpine-secdb=…``, ``debian-dsa=…``, ``debian-dla=…``."""
    name, sep, location = spec.partition("=")
    if not sep and Path(spec).exists():
        raise VulnDBError(
            f"--source {spec!r} names no ecosystem",
            hint="write ECOSYSTEM=PATH, e.g. PyPI=./PyPI.zip",
        )
    if name == "alpine-secdb" and location:
        return AlpineSecdbFeed(location)
    if name in ("debian-dsa", "debian-dla") and location:
        return DebianTrackerFeed(name.removeprefix("debian-"), location)
    if is_supported(name):
        return OSVFeed(name, location or None)
    raise VulnDBError(
        f"unknown feed {name!r} in --source {spec!r}",
        hint="use an OSV ecosystem (PyPI, npm, Go, Maven, crates.io, RubyGems, "
        "NuGet, Debian, Ubuntu, Alpine), alpine-secdb, debian-dsa or debian-dla",
    )
