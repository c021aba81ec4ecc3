"""The scan report: what ``tollgate scan`` prints (JSON for machines, a table for people)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from policies.decision import Decision
from service.catalog.model import ImageSubject
from service.layers.model import Efficiency, LayerSummary, SecretFile
from service.pipeline import Verdict
from service.scanning import ScanOutcome
from service.signing.model import SignatureStatus
from service.vulndb.model import Finding, NotEvaluated, Severity


class PackageSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    type: str
    purl: str | None


class ScanReport(BaseModel):
    """``vulnerabilities`` holds every finding, those a VEX statement suppressed with
    ``vex`` set; ``not_evaluated`` the packages no advisory data could audit; ``layers``,
    ``efficiency`` and ``secret_files`` come from the layer analysis (empty and None
    when the layers were not analysed)."""

    model_config = ConfigDict(frozen=True)

    image: ImageSubject
    engine: str
    engine_version: str
    packages: list[PackageSummary]
    vulnerabilities: list[Finding]
    not_evaluated: list[NotEvaluated]
    signatures: SignatureStatus
    decision: Decision
    layers: list[LayerSummary] = []
    efficiency: Efficiency | None = None
    secret_files: list[SecretFile] = []
    timings: dict[str, float] = {}


def build_report(outcome: ScanOutcome, verdict: Verdict) -> ScanReport:
    catalog = outcome.catalog
    analysis = outcome.layers
    return ScanReport(
        image=catalog.image,
        engine=catalog.engine,
        engine_version=catalog.engine_version,
        packages=[
            PackageSummary(name=p.name, version=p.version, type=p.type.value, purl=p.purl)
            for p in catalog.packages
        ],
        vulnerabilities=list(verdict.findings),
        not_evaluated=list(verdict.not_evaluated),
        signatures=verdict.signatures,
        decision=verdict.decision,
        layers=list(analysis.layers) if analysis else [],
        efficiency=analysis.efficiency if analysis else None,
        secret_files=list(analysis.secret_files) if analysis else [],
        timings=outcome.timings.as_dict(),
    )


def report_json(report: ScanReport) -> str:
    return report.model_dump_json(indent=2, exclude_none=False)


def report_table(report: ScanReport) -> str:
    lines = [
        f"image     {report.image.reference}",
        f"digest    {report.image.digest}  ({report.image.platform})",
        f"packages  {len(report.packages)} ({report.engine} {report.engine_version})",
    ]
    active = [f for f in report.vulnerabilities if f.vex is None]
    counts = Counter(f.severity for f in active)
    ordered = sorted(Severity, key=lambda s: -s.rank)
    lines.append(
        "findings  " + ", ".join(f"{counts.get(s, 0)} {s.value}" for s in ordered if counts.get(s))
        if active
        else "findings  none"
    )
    suppressed = len(report.vulnerabilities) - len(active)
    if suppressed:
        lines.append(f"vex       {suppressed} finding(s) suppressed by VEX statements")
    if report.not_evaluated:
        lines.append(f"not evaluated  {_gaps(report.not_evaluated)}")
    if active:
        lines.append("")
        lines.append(_table(active))
    if report.efficiency is not None:
        lines.append("")
        lines.extend(_layers(report))
    decision = report.decision
    lines.append("")
    lines.append(f"policy    {decision.outcome.value.upper()} ({_policy(decision)})")
    lines.extend(f"  - [{r.action.value}] {r.rule_id}: {r.message}" for r in decision.fired)
    return "\n".join(lines) + "\n"


def _gaps(items: list[NotEvaluated]) -> str:
    """``97 packages: 90 deb (no Debian:12 advisories …), 7 python (…)``."""
    reasons = Counter((i.package.type, i.reason) for i in items)
    parts = [f"{count} {kind} ({reason})" for (kind, reason), count in reasons.most_common(3)]
    more = len(reasons) - len(parts)
    return f"{len(items)} package(s): " + "; ".join(parts) + (f"; … (+{more})" if more else "")


def _layers(report: ScanReport) -> list[str]:
    efficiency = report.efficiency
    assert efficiency is not None
    lines = [
        f"layers    {len(report.layers)}, {_size(efficiency.size)}; efficiency "
        f"{efficiency.score:.2%}, {_size(efficiency.wasted_bytes)} wasted",
        "",
    ]
    rows: list[tuple[Any, ...]] = [("#", "SIZE", "ADDED", "CHANGED", "REMOVED", "COMMAND")]
    rows.extend(
        (
            layer.index,
            _size(layer.size),
            layer.files_added,
            layer.files_changed,
            layer.files_removed,
            _command(layer.created_by),
        )
        for layer in report.layers
    )
    lines.append(_columns(rows))
    for secret in report.secret_files:
        state = "present" if secret.visible else "deleted later, still shipped"
        lines.append(
            f"secret    /{secret.path}: {secret.kind} in layer {secret.layer_index} ({state})"
        )
    return lines


def _size(size: int) -> str:
    if size < 1000:
        return f"{size} B"
    value = size / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def _command(created_by: str, width: int = 60) -> str:
    command = " ".join(created_by.removeprefix("/bin/sh -c ").split())
    return command if len(command) <= width else command[: width - 1] + "…"


def _policy(decision: Decision) -> str:
    version = f" v{decision.bundle_version}" if decision.bundle_version else ""
    return f"{decision.bundle or ''}{version}/{decision.policy}"


def _table(findings: list[Finding]) -> str:
    """One row per finding, worst first: who rated its severity, and its exploitation
    signals (KEV, EPSS) in columns shown when a finding has one."""
    kev = any(f.kev for f in findings)
    epss = any(f.epss for f in findings)
    header = ("SEVERITY", "RATED BY", "ID", "PACKAGE", "VERSION", "FIXED IN")
    rows: list[tuple[Any, ...]] = [
        (*header, *(("KEV",) if kev else ()), *(("EPSS",) if epss else ()))
    ]
    for f in sorted(findings, key=lambda f: (-f.severity.rank, f.package.name, f.id)):
        row = (
            f.severity.value,
            f.severity_source or "-",
            f.id,
            f.package.name,
            f.package.version,
            ", ".join(f.fixed_versions),
        )
        rows.append((*row, *((_kev(f),) if kev else ()), *((_epss(f),) if epss else ())))
    return _columns(rows)


def _kev(finding: Finding) -> str:
    """``2021-12-10`` (listed since), ``+ransomware`` when used in ransomware campaigns."""
    kev = finding.kev
    if kev is None:
        return "-"
    return f"{kev.date_added}{' +ransomware' if kev.ransomware else ''}"


def _epss(finding: Finding) -> str:
    """``0.944 (99.96%)``: the probability and its percentile."""
    epss = finding.epss
    return "-" if epss is None else f"{epss.score:.3f} ({epss.percentile:.2%})"


def _columns(rows: list[tuple[Any, ...]]) -> str:
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
