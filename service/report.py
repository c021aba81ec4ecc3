"""The scan report: what ``tollgate scan`` prints (JSON for machines, a table for people)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict

from policies.decision import Decision
from service.catalog.model import ImageSubject
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
    ``vex`` set; ``not_evaluated`` the packages no advisory data could audit."""

    model_config = ConfigDict(frozen=True)

    image: ImageSubject
    engine: str
    engine_version: str
    packages: list[PackageSummary]
    vulnerabilities: list[Finding]
    not_evaluated: list[NotEvaluated]
    signatures: SignatureStatus
    decision: Decision
    timings: dict[str, float] = {}


def build_report(outcome: ScanOutcome, verdict: Verdict) -> ScanReport:
    catalog = outcome.catalog
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
