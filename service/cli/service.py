"""``tollgate serve | worker | beat | token create|list|revoke``: run the scan service."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import click

from service.auth.tokens import TokenAuthority, default_lifetime, parse_lifetime, parse_scopes
from service.errors import NotFoundError
from service.jobs.dispatch import WORKER_QUEUES
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
@click.option(
    "--tls-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM certificate (chain) to serve HTTPS with, as admission webhooks need.",
)
@click.option(
    "--tls-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM private key of --tls-cert.",
)
def serve(
    host: str, port: int, access_log: bool, tls_cert: Path | None, tls_key: Path | None
) -> None:
    """Serve the API; without TOLLGATE_BROKER_URL scans also run in this process."""
    if (tls_cert is None) != (tls_key is None):
        raise click.BadParameter("give --tls-cert and --tls-key together")
    import uvicorn

    from service.api.app import create_app

    settings = get_settings()
    settings.refuse_weak_secrets_on(host)
    mode = "broker" if settings.broker_url else "embedded"
    logger.info("serving on %s:%d (%s mode)", host, port, mode)
    config = uvicorn.Config(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
    )
    # (after Config: it configures uvicorn's loggers)
    logging.getLogger("uvicorn.access").addFilter(drop_query_strings)
    uvicorn.Server(config).run()


def drop_query_strings(record: logging.LogRecord) -> bool:
    """A filter for uvicorn's access log: the path without its query string (a token or a
    registry credential may travel there)."""
    args = record.args
    if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
        record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
    return True


loglevel_option = click.option(
    "--loglevel", default="INFO", show_default=True, help="Celery log level."
)


@app.command()
@click.option(
    "--queues",
    default=WORKER_QUEUES,
    show_default=True,
    help="Comma-separated queues, taken from in this order.",
)
@click.option("--concurrency", default=2, show_default=True, help="Worker processes.")
@loglevel_option
def worker(queues: str, concurrency: int, loglevel: str) -> None:
    """Process queued scans (needs TOLLGATE_BROKER_URL).

    Mingle, gossip and event heartbeats are off: nothing in Tollgate talks to workers
    through them, and they are extra broker traffic at every reconnection (where Celery's
    Redis transport has had bugs that left a worker connected but not consuming).
    """
    from workers.app import app as celery_app

    celery_app.worker_main(
        [
            "worker",
            f"--queues={queues}",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ]
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


def _authority() -> TokenAuthority:
    return TokenAuthority(TokenStore(engine_from_settings()), get_settings().webhook_secret)


@token_app.command("create")
@click.option(
    "--scope", multiple=True, required=True, help="read, scan, webhook or admin (repeatable)."
)
@click.option("--name", default="cli", show_default=True, help="Who or what the token is for.")
@click.option(
    "--expires-in",
    help="Lifetime such as 90d, 12h or 30m, or never (default: 90d in production, else never).",
)
def create_token(scope: tuple[str, ...], name: str, expires_in: str | None) -> None:
    """Create an API token; it is printed once, alone on the last line."""
    scopes = parse_scopes(" ".join(scope))
    lifetime = (
        default_lifetime(get_settings()) if expires_in is None else parse_lifetime(expires_in)
    )
    issued = _authority().issue(scopes, name, lifetime)
    expiry = "never" if lifetime is None else f"{datetime.now(UTC) + lifetime:%Y-%m-%d %H:%M} UTC"
    click.echo(
        f"created token {issued.id} with scopes {', '.join(sorted(scopes))}, expiring {expiry}; "
        "store it now:"
    )
    click.echo(issued.secret)


@token_app.command("list")
def list_tokens() -> None:
    """Every token: id, name, scopes, created, expires, last used, state (never the secret)."""
    rows = [("ID", "NAME", "SCOPES", "CREATED", "EXPIRES", "LAST USED", "STATE")]
    now = datetime.now(UTC)
    for info in _authority().tokens():
        state = "revoked" if info.revoked else "active"
        if not info.revoked and info.expires_at is not None and info.expires_at <= now:
            state = "expired"
        rows.append(
            (
                str(info.id),
                info.name,
                ",".join(sorted(info.scopes)),
                _when(info.created_at),
                _when(info.expires_at, "never"),
                _when(info.last_used_at, "never"),
                state,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@token_app.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    """Revoke a token by its id (see `tollgate token list`); running services stop
    accepting it within seconds."""
    if not _authority().revoke(token_id):
        raise NotFoundError(f"there is no token {token_id}", hint="see `tollgate token list`")
    click.echo(f"revoked token {token_id}")


def _when(moment: datetime | None, missing: str = "-") -> str:
    return missing if moment is None else f"{moment:%Y-%m-%d %H:%M}"
