"""The scan report: what ``tollgate scan`` prints (JSON for machines, a table for people)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from policies.decision import Decision
from service.catalog.model import Catalog, ImageSubject
from service.vulndb.model import Finding, Severity


class PackageSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    version: str
    type: str
    purl: str | None


class ScanReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    image: ImageSubject
    engine: str
    engine_version: str
    packages: list[PackageSummary]
    vulnerabilities: list[Finding]
    decision: Decision | None = None
    timings: dict[str, float] = {}


def build_report(
    catalog: Catalog,
    findings: list[Finding],
    decision: Decision | None,
    timings: dict[str, float],
) -> ScanReport:
    return ScanReport(
        image=catalog.image,
        engine=catalog.engine,
        engine_version=catalog.engine_version,
        packages=[
            PackageSummary(name=p.name, version=p.version, type=p.type.value, purl=p.purl)
            for p in catalog.packages
        ],
        vulnerabilities=findings,
        decision=decision,
        timings=timings,
    )


def report_json(report: ScanReport) -> str:
    return report.model_dump_json(indent=2, exclude_none=False)


def report_table(report: ScanReport) -> str:
    lines = [
        f"image     {report.image.reference}",
        f"digest    {report.image.digest}  ({report.image.platform})",
        f"packages  {len(report.packages)} ({report.engine} {report.engine_version})",
    ]
    active = [f for f in report.vulnerabilities if f.suppressed_by is None]
    counts = Counter(f.severity for f in active)
    ordered = sorted(Severity, key=lambda s: -s.rank)
    lines.append(
        "findings  " + ", ".join(f"{counts.get(s, 0)} {s.value}" for s in ordered if counts.get(s))
        if active
        else "findings  none"
    )
    if active:
        lines.append("")
        lines.append(_table(active))
    if report.decision is not None:
        lines.append("")
        lines.append(
            f"policy    {report.decision.outcome.value.upper()} ({_policy(report.decision)})"
        )
        lines.extend(
            f"  - [{r.action.value}] {r.rule_id}: {r.message}" for r in report.decision.fired
        )
    return "\n".join(lines) + "\n"


def _policy(decision: Decision) -> str:
    version = f" v{decision.bundle_version}" if decision.bundle_version else ""
    return f"{decision.bundle or ''}{version}/{decision.policy}"


def _table(findings: list[Finding]) -> str:
    rows: list[tuple[Any, ...]] = [("SEVERITY", "ID", "PACKAGE", "VERSION", "FIXED IN")]
    for f in sorted(findings, key=lambda f: (-f.severity.rank, f.package.name, f.id)):
        rows.append(
            (f.severity.value, f.id, f.package.name, f.package.version, ", ".join(f.fixed_versions))
        )
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
