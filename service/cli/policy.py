"""``tollgate policy``: apply, list, show and evaluate stored policy bundles."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import yaml
from pydantic import ValidationError

from policies.decision import Outcome
from policies.engine import evaluate_bundle
from policies.loader import load_bundle
from policies.subject import EvaluationInput
from service.errors import PolicyError
from service.store.database import engine_from_settings
from service.store.policies import PolicyStore

app = typer.Typer(help="Manage policy bundles and evaluate images against them.")

VersionOption = Annotated[
    int | None, typer.Option("--version", help="A stored version (default: the latest).")
]


def _store() -> PolicyStore:
    return PolicyStore(engine_from_settings())


@app.command("apply")
def apply_bundle(
    file: Annotated[Path, typer.Argument(help="A policy bundle YAML file.")],
    author: Annotated[str | None, typer.Option(help="Who applies it (default: $USER).")] = None,
) -> None:
    """Validate FILE and store it as a new version of its bundle."""
    bundle = load_bundle(file)
    stored = _store().apply(bundle, author=author or getpass.getuser(), now=datetime.now(UTC))
    typer.echo(f"applied {stored.name} version {stored.version}")


@app.command("list")
def list_bundles() -> None:
    """Stored bundles and their versions."""
    versions = _store().versions()
    if not versions:
        typer.echo("no policies stored: add one with `tollgate policy apply FILE`")
    for entry in versions:
        created = entry.created_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{entry.name}\tv{entry.version}\t{created}\t{entry.author}")


@app.command("show")
def show(name: str, version: VersionOption = None) -> None:
    """Print a stored bundle as YAML (re-applying the output stores an identical version)."""
    bundle = _store().get(name, version)
    document = bundle.model_dump(mode="json", exclude_defaults=True)
    typer.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), nl=False)


@app.command("eval")
def evaluate_file(
    name: str,
    input_file: Annotated[Path, typer.Option("--input", help="An EvaluationInput JSON document.")],
    version: VersionOption = None,
    record: Annotated[bool, typer.Option(help="Store the decision.")] = False,
) -> None:
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
    typer.echo(decision.model_dump_json(indent=2))
    if decision.outcome is Outcome.BLOCK:
        raise typer.Exit(code=1)
