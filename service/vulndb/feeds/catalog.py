"""Which feeds Tollgate imports: the default list, and ``--source`` specs naming others."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from service.errors import VulnDBError
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.base import AnyFeed, CveFeed
from service.vulndb.feeds.cve_records import CveRecordsFeed
from service.vulndb.feeds.debian_tracker import DebianTrackerFeed
from service.vulndb.feeds.epss import EPSSFeed
from service.vulndb.feeds.kev import KEVFeed
from service.vulndb.feeds.nvd import NVDFeed
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


# The feeds of facts about CVEs; without a location each reads its public source.
CVE_FEEDS: dict[str, Callable[[str | None], CveFeed]] = {
    "nvd": NVDFeed,  # NVD's recently-modified feed; name yearly files or a mirror
    "cve": CveRecordsFeed,  # the cvelistV5 repository's zip
    "kev": KEVFeed,
    "epss": EPSSFeed,
}


def default_feeds() -> list[AnyFeed]:
    """The public OSV bucket, one feed per ecosystem Tollgate matches, then CISA's KEV
    catalog and FIRST's EPSS scores (NVD and CVE records are imported on request: their
    public downloads are gigabytes)."""
    return [*(OSVFeed(ecosystem) for ecosystem in DEFAULT_OSV_ECOSYSTEMS), KEVFeed(), EPSSFeed()]


def feed_for(spec: str) -> AnyFeed:
    """``ECOSYSTEM=URL|PATH`` (OSV), ``alpine-secdb=…``, ``debian-dsa=…``, ``debian-dla=…``,
    or a CVE feed: ``nvd=…``, ``cve=…``, ``kev[=…]``, ``epss[=…]``."""
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
    if name in CVE_FEEDS:
        return CVE_FEEDS[name](location or None)
    if is_supported(name):
        return OSVFeed(name, location or None)
    raise VulnDBError(
        f"unknown feed {name!r} in --source {spec!r}",
        hint="use an OSV ecosystem (PyPI, npm, Go, Maven, crates.io, RubyGems, "
        "NuGet, Debian, Ubuntu, Alpine), alpine-secdb, debian-dsa, debian-dla, "
        "or a CVE feed: nvd, cve, kev, epss (=PATH|URL optional)",
    )
