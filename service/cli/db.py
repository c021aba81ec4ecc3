"""``tollgate db``: update the vulnerability database and show its status."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import click

from service.errors import VulnDBError
from service.settings import get_settings
from service.store.catalogs import CatalogStore
from service.store.database import engine_from_settings
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.debian_tracker import DebianTrackerFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.reevaluate import reevaluate
from service.vulndb.store import VulnStore
from service.vulndb.versions import is_supported

logger = logging.getLogger(__name__)

app = click.Group(
    "db", help="Vulnerability database: update feeds, show status.", no_args_is_help=True
)

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


@app.command()
@click.option(
    "--source",
    "-s",
    multiple=True,
    help="ECOSYSTEM=URL|PATH (repeatable); default: the public OSV bucket",
)
def update(source: tuple[str, ...]) -> None:
    """Import feeds, then re-match the stored catalogs they touched; report what changed."""
    feeds = (
        [feed_for(s) for s in source] if source else [OSVFeed(e) for e in DEFAULT_OSV_ECOSYSTEMS]
    )
    engine = engine_from_settings()
    db = VulnStore(engine)
    changed = False
    for feed in feeds:
        result = db.import_feed(feed)
        changed = changed or result.changed
        click.echo(
            f"{result.source}: {result.added} added, {result.updated} updated, "
            f"{result.withdrawn} withdrawn, {result.unchanged} unchanged, "
            f"{result.skipped} skipped{left_out(result.skipped_entries)}"
        )
    if not changed:
        click.echo("no advisory changed; stored images not re-evaluated")
        return
    outcome = reevaluate(CatalogStore(engine), db)
    click.echo(
        f"re-evaluated {outcome.images} images: {outcome.images_gained} gained findings, "
        f"{outcome.images_lost} lost findings ({outcome.rematched} re-matched, "
        "the others hold no package whose advisories changed)"
    )


def left_out(entries: Mapping[str, int]) -> str:
    """``; 3 affected entries left out (no package: 2, …)``, or nothing."""
    if not entries:
        return ""
    reasons = ", ".join(f"{reason}: {count}" for reason, count in sorted(entries.items()))
    return f"; {sum(entries.values())} affected entries left out ({reasons})"


@app.command()
def status() -> None:
    """Advisories per ecosystem, last update per source and the database age."""
    settings = get_settings()
    current = VulnStore(engine_from_settings(settings)).status()
    if not current.sources:
        click.echo("the vulnerability database is empty: run `tollgate db update`")
        raise click.exceptions.Exit(1)
    for ecosystem, count in current.advisories_per_ecosystem.items():
        click.echo(f"{ecosystem:<20} {count:>8} advisories")
    for src in current.sources:
        click.echo(
            f"{src.source:<20} updated {src.updated_at:%Y-%m-%d %H:%M:%S} UTC, "
            f"{src.records} records, {src.skipped} skipped{left_out(src.skipped_entries)}"
        )
    age = current.age_hours() or 0.0
    click.echo(f"last update {age:.1f} hours ago")
    if age > settings.db_max_age_hours:
        click.echo(
            f"warning: the database is older than {settings.db_max_age_hours:g} hours; "
            "run `tollgate db update`",
            err=True,
        )
