"""``tollgate policy``: apply, list, show and evaluate stored policy bundles."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path

import click
import yaml
from pydantic import ValidationError

from policies.decision import Outcome
from policies.engine import evaluate_bundle
from policies.loader import load_bundle
from policies.subject import EvaluationInput
from service.errors import PolicyError
from service.settings import get_settings
from service.store.database import engine_from_settings
from service.store.policies import PolicyStore
from service.wiring import pipeline_components

app = click.Group(
    "policy",
    help="Manage policy bundles and evaluate images against them.",
    no_args_is_help=False,  # a bare `tollgate policy` is a usage error (exit 2)
)

version_option = click.option("--version", type=int, help="A stored version (default: the latest).")


def _store() -> PolicyStore:
    return PolicyStore(engine_from_settings())


@app.command("apply")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--author", help="Who applies it (default: $USER).")
def apply_bundle(file: Path, author: str | None) -> None:
    """Validate FILE and store it as a new version of its bundle.

    FILE: a policy bundle YAML file.
    """
    bundle = load_bundle(file)
    settings = get_settings()
    with pipeline_components(settings) as built:
        stored = built.policies.apply(
            bundle, author=author or getpass.getuser(), now=datetime.now(UTC)
        )
        click.echo(f"applied {stored.name} version {stored.version}")
        if stored.name == built.pipeline.bundle:
            count = built.pipeline.redecide_all(f"policy bundle {stored.name} v{stored.version}")
            click.echo(f"decided again on {count} stored image(s)")


@app.command("list")
def list_bundles() -> None:
    """Stored bundles and their versions."""
    versions = _store().versions()
    if not versions:
        click.echo("no policies stored: add one with `tollgate policy apply FILE`")
    for entry in versions:
        created = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{entry.name}\tv{entry.version}\t{created}\t{entry.author}")


@app.command("show")
@click.argument("name")
@version_option
def show(name: str, version: int | None) -> None:
    """Print a stored bundle as YAML (re-applying the output stores an identical version)."""
    bundle = _store().get(name, version)
    document = bundle.model_dump(mode="json", exclude_defaults=True)
    click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)


@app.command("eval")
@click.argument("name")
@click.option(
    "--input",
    "input_file",
    type=click.Path(path_type=Path),
    required=True,
    help="An EvaluationInput JSON document.",
)
@version_option
@click.option("--record/--no-record", default=False, show_default=True, help="Store the decision.")
def evaluate_file(name: str, input_file: Path, version: int | None, record: bool) -> None:
    """Evaluate a stored bundle against an image described in JSON; exit 1 when blocked."""
    try:
        subject = EvaluationInput.model_validate_json(input_file.read_bytes())
    except OSError as error:
        raise PolicyError(f"cannot read {input_file}: {error.strerror}") from error
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PolicyError(
            f"{input_file}: not an evaluation input: {where}: {first['msg']}",
            hint=f"{error.error_count()} problem(s); fix the document and retry",
        ) from error
    store = _store()
    decision = evaluate_bundle(store.get(name, version), subject, now=datetime.now(UTC))
    if record:
        store.record(decision)
    click.echo(decision.model_dump_json(indent=2))
    if decision.outcome is Outcome.BLOCK:
        raise click.exceptions.Exit(1)
