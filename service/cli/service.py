"""``tollgate serve | worker | beat | token create``: run the scan service."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from service.auth.tokens import TokenAuthority, parse_scopes
from service.settings import get_settings
from service.store.database import engine_from_settings
from service.store.tokens import TokenStore

logger = logging.getLogger(__name__)

app = click.Group(no_args_is_help=True)
token_app = click.Group("token", help="API tokens.", no_args_is_help=True)
app.add_command(token_app)


@app.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, help="TCP port.")
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (turn off for busy admission webhooks).",
)
def serve(host: str, port: int, access_log: bool) -> None:
    """Serve the API; without TOLLGATE_BROKER_URL scans also run in this process."""
    import uvicorn

    from service.api.app import create_app

    settings = get_settings()
    mode = "broker" if settings.broker_url else "embedded"
    logger.info("serving on %s:%d (%s mode)", host, port, mode)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=access_log)


loglevel_option = click.option(
    "--loglevel", default="INFO", show_default=True, help="Celery log level."
)


@app.command()
@click.option(
    "--queues", default="push,admission,bulk", show_default=True, help="Comma-separated queues."
)
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
@loglevel_option
def worker(queues: str, concurrency: int, loglevel: str) -> None:
    """Process queued scans (needs TOLLGATE_BROKER_URL)."""
    from workers.app import app as celery_app

    celery_app.worker_main(
        ["worker", f"--queues={queues}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@app.command()
@loglevel_option
@click.option(
    "--schedule",
    type=click.Path(path_type=Path),
    help="Beat's state file (default: in the data directory).",
)
def beat(loglevel: str, schedule: Path | None) -> None:
    """Schedule recovery, database updates and re-evaluation (needs TOLLGATE_BROKER_URL)."""
    from workers.app import app as celery_app

    state = schedule or get_settings().data_dir / "celerybeat-schedule"
    state.parent.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", f"--loglevel={loglevel}", f"--schedule={state}"])


@token_app.command("create")
@click.option(
    "--scope", multiple=True, required=True, help="read, scan, webhook or admin (repeatable)."
)
@click.option("--name", default="cli", show_default=True, help="Who or what the token is for.")
def create_token(scope: tuple[str, ...], name: str) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    scopes = parse_scopes(" ".join(scope))
    authority = TokenAuthority(TokenStore(engine_from_settings()), get_settings().webhook_secret)
    token = authority.issue(scopes, name)
    click.echo(f"created a token with scopes {', '.join(sorted(scopes))}; store it now:")
    click.echo(token)
