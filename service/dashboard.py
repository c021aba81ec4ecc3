"""The fleet dashboard: one summary, daily trends and the most widespread vulnerabilities.

The JSON dashboard (``/api/v1/dashboard``) and the web console both answer from these
functions, so a chart and its JSON never disagree. Every answer reads denormalised rows
(per-image counts, per-vulnerability spread): the cost does not grow with the findings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from service.store.advisories import VulnStore
from service.store.fleet_history import FleetHistory
from service.store.images import SEVERITIES, ImageStore, VulnOrder
from service.store.policies import PolicyStore
from service.store.scans import ScanStatus, ScanStore

POLICY_OUTCOMES = ("pass", "warn", "block")


class Summary(BaseModel):
    images: int
    scan_states: dict[str, int]  # images: scanned | failed
    scans_pending: int  # queued or running
    findings: dict[str, int]
    fixable: int
    known_exploited: int  # findings of vulnerabilities in CISA's KEV catalog
    policy: dict[str, int]
    database_updated_at: datetime | None
    database_age_hours: float | None
    database_revision: int


class TrendDay(BaseModel):
    day: date
    scans_done: int
    scans_failed: int
    new_images: int
    decisions: dict[str, int]  # pass | warn | block -> decisions recorded that day
    findings: dict[str, int]  # severity -> findings in the fleet that day (today: now)


class TopVulnerability(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from the store's VulnSpread

    id: str = Field(validation_alias="vuln_id")
    severity: str
    fixable: bool
    affected_images: int
    known_exploited: bool
    epss: float | None


def summary(
    images: ImageStore, scans: ScanStore, vulns: VulnStore, *, now: datetime | None = None
) -> Summary:
    now = now or datetime.now(UTC)
    totals = images.totals()
    states = scans.counts_by_status()
    updated = vulns.updated_at()
    age = (now - updated).total_seconds() / 3600 if updated else None
    return Summary(
        images=totals.images,
        scan_states=totals.scan_states,
        scans_pending=states[ScanStatus.QUEUED] + states[ScanStatus.RUNNING],
        findings=totals.findings,
        fixable=totals.fixable,
        known_exploited=totals.known_exploited,
        policy={o: totals.policy.get(o, 0) for o in POLICY_OUTCOMES},
        database_updated_at=updated,
        database_age_hours=round(age, 2) if age is not None else None,
        database_revision=vulns.revision(),
    )


def trends(
    scans: ScanStore,
    images: ImageStore,
    policies: PolicyStore,
    fleet: FleetHistory,
    days: int,
    *,
    today: date | None = None,
    findings_now: dict[str, int] | None = None,
) -> list[TrendDay]:
    """One entry per day, oldest first, including days with no activity. A day without a
    recorded fleet total keeps the day before's (nothing was recorded: nothing ran).
    ``findings_now``: today's findings by severity when the caller has read them already
    (the overview's summary), else read here."""
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    per_day = {d.day: d for d in scans.daily(since)}
    new_images = images.first_seen_daily(since)
    decisions = policies.daily_outcomes(since)
    recorded = fleet.findings_since(first)
    recorded[today] = findings_now if findings_now is not None else images.totals().findings
    findings: dict[str, int] = {}
    result = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        findings = recorded.get(day, findings)
        counts = per_day.get(day)
        result.append(
            TrendDay(
                day=day,
                scans_done=counts.done if counts else 0,
                scans_failed=counts.failed if counts else 0,
                new_images=new_images.get(day.isoformat(), 0),
                decisions={
                    o: decisions.get(day.isoformat(), {}).get(o, 0) for o in POLICY_OUTCOMES
                },
                findings={s.value: findings.get(s.value, 0) for s in SEVERITIES},
            )
        )
    return result


def top_vulnerabilities(
    images: ImageStore, limit: int, order: VulnOrder = VulnOrder.AFFECTED
) -> list[TopVulnerability]:
    """In the most images first; ``kev``: known-exploited first; ``epss``: the most likely
    exploited first (then in the most images)."""
    return [TopVulnerability.model_validate(v) for v in images.top_vulnerabilities(limit, order)]
