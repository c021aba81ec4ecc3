"""``tollgate db``: update the vulnerability database and show its status."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import click

from service.settings import get_settings
from service.store.advisories import ImportResult, VulnStore
from service.store.database import engine_from_settings
from service.vulndb.feeds.catalog import default_feeds, feed_for
from service.wiring import pipeline_components

logger = logging.getLogger(__name__)

app = click.Group(
    "db", help="Vulnerability database: update feeds, show status.", no_args_is_help=True
)


@app.command()
@click.option(
    "--source",
    "-s",
    multiple=True,
    help="ECOSYSTEM=URL|PATH, nvd=…, cve=…, kev[=…], epss[=…] (repeatable); "
    "default: the public OSV bucket, KEV and EPSS",
)
def update(source: tuple[str, ...]) -> None:
    """Import feeds, then match again the stored catalogs they touched and decide again on
    the images whose findings changed; report what changed."""
    feeds = [feed_for(s) for s in source] if source else default_feeds()

    def report(result: ImportResult) -> None:
        click.echo(
            f"{result.source}: {result.added} added, {result.updated} updated, "
            f"{result.withdrawn} withdrawn, {result.unchanged} unchanged, "
            f"{result.skipped} skipped{left_out(result.skipped_entries)}"
        )

    with pipeline_components(get_settings()) as built:
        outcome = built.pipeline.update(feeds, on_import=report)
    if outcome.reevaluation is None:
        click.echo("no advisory changed; stored images not re-evaluated")
        return
    matched = outcome.reevaluation
    click.echo(
        f"re-evaluated {matched.images} images: {matched.images_gained} gained findings, "
        f"{matched.images_lost} lost findings, {matched.images_updated} updated findings "
        f"({matched.rematched} re-matched, "
        "the others hold no package whose advisories changed); "
        f"{outcome.redecided} decided again"
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
