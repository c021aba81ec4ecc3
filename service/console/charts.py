"""Charts drawn on the server as SVG shapes (the templates only place them): the 30-day
trends (scans, new images, decisions, findings) of the dashboard's ``trends`` query and the severity
bars of its ``summary``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from service.dashboard import TrendDay

WIDTH, HEIGHT, AXIS = 720, 180, 20


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str  # class: the stylesheet colours it
    title: str  # tooltip and accessible name


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]  # x, text under the axis
    peak: int  # the value of the top of the chart


def trend_chart(days: Sequence[TrendDay]) -> Chart:
    """Stacked bars per day: scans done, scans failed, newly seen images."""
    series = (("scans_done", "done"), ("scans_failed", "failed"), ("new_images", "new"))
    return _stacked(
        days, [[(getattr(d, n), css, n.replace("_", " ")) for n, css in series] for d in days]
    )


def decision_chart(days: Sequence[TrendDay]) -> Chart:
    """Stacked bars per day: decisions recorded, by outcome."""
    return _stacked(
        days, [[(n, o, f"{o} decisions") for o, n in d.decisions.items()] for d in days]
    )


def findings_chart(days: Sequence[TrendDay]) -> Chart:
    """Stacked bars per day: the fleet's findings, by severity (critical on top)."""
    return _stacked(
        days,
        [[(n, s, f"{s} findings") for s, n in reversed(d.findings.items())] for d in days],
    )


def _stacked(days: Sequence[TrendDay], stacks: Sequence[Sequence[tuple[int, str, str]]]) -> Chart:
    """One stack a day of (value, css class, what it counts), bottom first."""
    peak = max((sum(v for v, _, _ in stack) for stack in stacks), default=0) or 1
    slot = WIDTH / max(len(days), 1)
    plot = HEIGHT - AXIS
    bars: list[Bar] = []
    for index, (day, stack) in enumerate(zip(days, stacks, strict=True)):
        top = float(plot)
        for value, css, what in stack:
            if not value:
                continue
            height = plot * value / peak
            top -= height
            title = f"{day.day.isoformat()}: {value} {what}"
            bars.append(Bar(index * slot + 1, top, slot - 2, height, css, title))
    labels = tuple(
        (min(max(index * slot + slot / 2, 18.0), WIDTH - 18.0), day.day.strftime("%m-%d"))
        for index, day in enumerate(days)
        if index % 5 == 0 or index == len(days) - 1
    )
    return Chart(WIDTH, HEIGHT, tuple(bars), labels, peak)


def severity_bars(counts: Mapping[str, int]) -> Chart:
    """One horizontal bar per severity, critical first."""
    peak = max(counts.values(), default=0) or 1
    row = 24
    bars = tuple(
        Bar(110, index * row + 4, (WIDTH - 200) * n / peak, row - 8, severity, f"{severity}: {n}")
        for index, (severity, n) in enumerate(counts.items())
    )
    labels = tuple((index * row + row / 2 + 4, s) for index, s in enumerate(counts))
    return Chart(WIDTH, row * len(counts) + 4, bars, labels, peak)
