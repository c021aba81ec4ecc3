"""``tollgate``: entry point. Commands stay thin: parse, call the core, print.

Exit status: 0 success (policy pass or warn), 1 policy block, 2 error.
Command groups and heavy libraries load only when the command needs them, so
a cached answer costs little more than Python's start-up.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from service import __version__, garbage
from service.allocator import one_heap
from service.errors import TollgateError
from service.layers import standby
from service.sbom import SbomFormat

# command name -> (module holding a click group `app`, command inside it or None for the group)
_LAZY: dict[str, tuple[str, str | None]] = {
    "db": ("service.cli.db", None),
    "policy": ("service.cli.policy", None),
    "key": ("service.cli.signing", "key"),
    "sign": ("service.cli.signing", "sign"),
    "verify": ("service.cli.signing", "verify"),
    "attest": ("service.cli.signing", "attest"),
    "verify-attestation": ("service.cli.signing", "verify-attestation"),
    "serve": ("service.cli.service", "serve"),
    "worker": ("service.cli.service", "worker"),
    "beat": ("service.cli.service", "beat"),
    "token": ("service.cli.service", "token"),
    "resident": ("service.cli.resident_control", None),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.commands, *_LAZY]  # in the order they are defined, like the help lists them

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _LAZY:
            return super().get_command(ctx, cmd_name)
        module, inner = _LAZY[cmd_name]
        group: click.Group = importlib.import_module(module).app
        return group if inner is None else group.get_command(ctx, inner)


class Engine(StrEnum):
    syft = "syft"
    trivy = "trivy"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"


_state: dict[str, Any] = {"verbose": False, "command": None}
# Commands that run until stopped: they leave through the interpreter's normal shutdown.
_LONG_RUNNING = frozenset({"serve", "worker", "beat"})

_F = TypeVar("_F", bound=Callable[..., Any])


def _enum_option(*decls: str, enum: type[StrEnum], **attrs: Any) -> Callable[[_F], _F]:
    """An option choosing one of ``enum``'s values; the command receives the member."""

    def to_member(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
        return None if value is None else enum(value)

    choice = click.Choice([member.value for member in enum])
    return click.option(*decls, type=choice, callback=to_member, show_default=True, **attrs)


IMAGE_HELP = (  # \b: click prints the paragraph as written instead of re-wrapping it
    "\b\nIMAGE: registry ref (host/repo:tag, name@sha256:…, alpine:3.19),\n"
    "oci-dir:PATH[:TAG], oci-archive:FILE, docker-archive:FILE"
)
image_argument = click.argument("image")
platform_option = click.option(
    "--platform", help="os/arch[/variant] to pick from an index (default linux/amd64)"
)
output_option = click.option(
    "--output", "-o", type=click.Path(path_type=Path), help="file (default stdout)"
)
engine_option = _enum_option("--engine", enum=Engine, help="catalog engine (default: syft)")


@click.group(
    "tollgate",
    cls=_LazyGroup,
    help="Container supply-chain gate: pull, catalog, SBOM, match, sign, decide.",
    no_args_is_help=True,
    context_settings={"max_content_width": 120},  # command summaries uncut on wide terminals
)
@click.option("--verbose", "-v", is_flag=True, help="log and show tracebacks")
@click.version_option(__version__, prog_name="tollgate", message="%(prog)s %(version)s")
@click.pass_context
def app(ctx: click.Context, verbose: bool) -> None:
    _state["verbose"] = verbose
    _state["command"] = ctx.invoked_subcommand
    if ctx.invoked_subcommand in _LONG_RUNNING:
        garbage.for_long_running()  # main() set the one-shot thresholds
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command(epilog=IMAGE_HELP)
@image_argument
@_enum_option("--format", "-f", enum=SbomFormat, default=SbomFormat.CYCLONEDX_JSON.value)
@output_option
@engine_option
@platform_option
@click.option(
    "--all-platforms",
    is_flag=True,
    help="one SBOM per platform of an index; needs --output",
)
def sbom(
    image: str,
    format: SbomFormat,
    output: Path | None,
    engine: Engine | None,
    platform: str | None,
    all_platforms: bool,
) -> None:
    """Write a schema-valid CycloneDX 1.6 or SPDX 2.3 SBOM of IMAGE."""
    from service.cli.output import StderrProgress, write_output
    from service.image.manifest import parse_platform
    from service.image.reference import parse_reference
    from service.settings import get_settings
    from service.wiring import sbom_orchestrator

    if all_platforms and output is None:
        raise click.BadParameter("--all-platforms writes one file per platform: give --output")
    ref = parse_reference(image)
    name = engine.value if engine else None
    with sbom_orchestrator(get_settings(), format, fork_writer=True) as orchestrator:
        if all_platforms:
            assert output is not None
            for outcome in orchestrator.catalog_all_platforms(ref, engine=name):
                suffix = str(outcome.image.platform).replace("/", "-")
                target = output.with_name(f"{output.stem}.{suffix}{output.suffix}")
                write_output(orchestrator.sbom(outcome, format), target)
                click.echo(f"wrote {target}", err=True)
            return
        wanted = parse_platform(platform) if platform else None
        document = orchestrator.sbom_of(
            ref, format, platform=wanted, engine=name, progress=StderrProgress()
        )
        write_output(document, output)


@app.command(epilog=IMAGE_HELP)
@image_argument
@_enum_option("--format", "-f", enum=ReportFormat, default=ReportFormat.table.value)
@output_option
@click.option("--policy", help="stored policy bundle (default: TOLLGATE_POLICY_BUNDLE)")
@click.option(
    "--vex",
    "vex_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="OpenVEX 0.2 or CycloneDX VEX JSON applied to this scan (repeatable)",
)
@engine_option
@platform_option
def scan(
    image: str,
    format: ReportFormat,
    output: Path | None,
    policy: str | None,
    vex_files: tuple[Path, ...],
    engine: Engine | None,
    platform: str | None,
) -> None:
    """Catalog, match and decide: exit 0 on pass or warn, 1 on block, 2 on error (a CI gate).

    The image, its findings and decision are recorded in the data directory's database,
    where `tollgate serve` shows them and `tollgate db update` decides again on them.
    """
    from policies.decision import Outcome
    from service.cli.output import StderrProgress, write_output
    from service.image.manifest import parse_platform
    from service.image.reference import parse_reference
    from service.report import build_report, report_json, report_table
    from service.settings import get_settings
    from service.vulndb.vex import parse_vex
    from service.wiring import pipeline_components

    ref = parse_reference(image)
    statements = [
        statement
        for path in vex_files
        for statement in parse_vex(path.read_bytes(), name=str(path))
    ]
    with pipeline_components(get_settings()) as built:
        result = built.pipeline.scan(
            ref,
            platform=parse_platform(platform) if platform else None,
            engine=engine.value if engine else None,
            bundle=policy,
            vex=statements,
            progress=StderrProgress(),
        )
    report = build_report(result.outcome, result.verdict)
    text = report_json(report) if format is ReportFormat.json else report_table(report)
    write_output(text, output)
    if result.verdict.decision.outcome is Outcome.BLOCK:
        raise click.exceptions.Exit(1)


def main() -> None:
    """Console-script entry point: every TollgateError is one line on stderr and exit 2.

    The process's allocator and collector are set first (:mod:`service.allocator`,
    :mod:`service.garbage`: the long-running commands go back to CPython's collection
    thresholds as they start)."""
    one_heap()
    garbage.for_one_shot()
    try:
        app()  # usage errors exit 2, click's Exit(n) exits n; success raises SystemExit(0)
    except TollgateError as error:
        if _state["verbose"]:
            logging.getLogger(__name__).exception("failed")
        sys.stderr.write(f"tollgate: error: {error}\n")
        code: int | str | None = 2
    except SystemExit as exit_:
        code = exit_.code
    if (
        _state["command"] in _LONG_RUNNING
        or not isinstance(code, int | None)
        or sys.getprofile() is not None  # a profiler or coverage tool writes its data at exit
        or sys.gettrace() is not None
    ):
        sys.exit(code)
    _leave(code or 0)


def _leave(code: int) -> NoReturn:
    """End a one-shot command without tearing the interpreter down.

    Freeing every imported module's objects at exit takes longer (about 80 ms) than
    answering a cached SBOM. Commands release what they hold in their own ``with``
    blocks; here output is flushed, logging shut down and a layer-reading child left
    over stopped (:func:`service.layers.standby.dismiss`), then the process ends.
    """
    standby.dismiss()
    logging.shutdown()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (``tollgate sbom IMAGE | head``)
        code = code or 1
    sys.stderr.flush()
    os._exit(code)
