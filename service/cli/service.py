"""``tollgate serve | worker | beat | token create``: run the scan service."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from service.auth.tokens import TokenAuthority, parse_scopes
from service.settings import get_settings
from service.store.database import engine_from_settings
from service.store.tokens import TokenStore

logger = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (turn off for busy admission webhooks).")
    ] = True,
) -> None:
    """Serve the API; without TOLLGATE_BROKER_URL scans also run in this process."""
    import uvicorn

    from service.api.app import create_app

    settings = get_settings()
    mode = "broker" if settings.broker_url else "embedded"
    logger.info("serving on %s:%d (%s mode)", host, port, mode)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", access_log=access_log)


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated queues.")] = "push,admission,bulk",
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
) -> None:
    """Process queued scans (needs TOLLGATE_BROKER_URL)."""
    from workers.app import app as celery_app

    celery_app.worker_main(
        ["worker", f"--queues={queues}", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


@app.command()
def beat(
    loglevel: Annotated[str, typer.Option(help="Celery log level.")] = "INFO",
    schedule: Annotated[
        Path | None, typer.Option(help="Beat's state file (default: in the data directory).")
    ] = None,
) -> None:
    """Schedule recovery, database updates and re-evaluation (needs TOLLGATE_BROKER_URL)."""
    from workers.app import app as celery_app

    state = schedule or get_settings().data_dir / "celerybeat-schedule"
    state.parent.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", f"--loglevel={loglevel}", f"--schedule={state}"])


@token_app.command("create")
def create_token(
    scope: Annotated[
        list[str], typer.Option("--scope", help="read, scan, webhook or admin (repeatable).")
    ],
    name: Annotated[str, typer.Option(help="Who or what the token is for.")] = "cli",
) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    scopes = parse_scopes(" ".join(scope))
    authority = TokenAuthority(TokenStore(engine_from_settings()), get_settings().webhook_secret)
    token = authority.issue(scopes, name)
    typer.echo(f"created a token with scopes {', '.join(sorted(scopes))}; store it now:")
    typer.echo(token)
