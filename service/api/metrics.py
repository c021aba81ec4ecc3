"""Prometheus metrics read from the database at scrape time.

Workers may run in other processes, so scan durations, queue depth and findings
are computed from the stored rows rather than from in-process counters: every
API replica reports the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import (
    CollectorRegistry,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from service.errors import TollgateError
from service.jobs.dispatch import Queue
from service.jobs.rate import SubmissionRate
from service.settings import Settings
from service.store.images import ImageStore
from service.store.scans import ScanStore

logger = logging.getLogger(__name__)

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class StoreCollector(Collector):
    def __init__(self, scans: ScanStore, images: ImageStore) -> None:
        self._scans = scans
        self._images = images

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._scans.counts_by_status()
            queued = self._scans.queued_by_queue()
            cumulative, count, total = self._scans.duration_buckets(DURATION_BUCKETS)
            totals = self._images.totals()
        except TollgateError as error:
            logger.warning("metrics unavailable: %s", error)
            return
        depth = GaugeMetricFamily(
            "tollgate_queue_depth", "Scans waiting for a worker, per queue", labels=["queue"]
        )
        for queue in Queue:
            depth.add_metric([queue.value], queued.get(queue.value, 0))
        yield depth
        scans = GaugeMetricFamily("tollgate_scans", "Scans by status", labels=["status"])
        for status, n in counts.items():
            scans.add_metric([status.value], n)
        yield scans
        buckets = [(str(b), c) for b, c in zip(DURATION_BUCKETS, cumulative, strict=True)]
        buckets.append(("+Inf", count))
        yield HistogramMetricFamily(
            "tollgate_scan_duration_seconds",
            "Duration of finished scans",
            buckets=buckets,
            sum_value=total,
        )
        images = GaugeMetricFamily("tollgate_images", "Scanned images")
        images.add_metric([], totals.images)
        yield images
        findings = GaugeMetricFamily(
            "tollgate_findings", "Distinct vulnerabilities per image, summed", labels=["severity"]
        )
        for severity, n in totals.findings.items():
            findings.add_metric([severity], n)
        yield findings


# The limits a hostile or runaway caller meets, as configured (TOLLGATE_… settings).
LIMITS = (
    ("api_max_body_bytes", "largest API request body read"),
    ("admission_max_body_bytes", "largest AdmissionReview body read"),
    ("admission_max_images", "distinct images one AdmissionReview may name"),
    ("scan_rate_per_minute", "new scans one caller may queue per minute"),
    ("scan_rate_burst", "new scans one caller may queue at once"),
    ("scan_queue_limit", "unfinished scans the push queue holds"),
    ("registry_timeout", "seconds per registry request"),
    ("registry_circuit_seconds", "seconds a failed registry is not contacted"),
    ("admission_scan_budget_seconds", "seconds admission may spend scanning"),
    ("embedded_workers", "scan threads in embedded mode"),
)


class LimitsCollector(Collector):
    """``tollgate_limit{name=…}``: every limit's configured value, and how many requests
    the scan rate limit refused in this process."""

    def __init__(self, settings: Settings, rate: SubmissionRate | None) -> None:
        self._settings = settings
        self._rate = rate

    def collect(self) -> Iterator[Metric]:
        limits = GaugeMetricFamily("tollgate_limit", "Configured limits", labels=["name"])
        for name, _ in LIMITS:
            limits.add_metric([name], float(getattr(self._settings, name)))
        yield limits
        refused = CounterMetricFamily(
            "tollgate_scan_requests_rate_limited", "Scan requests refused with 429 (this process)"
        )
        refused.add_metric([], self._rate.refused if self._rate is not None else 0)
        yield refused


def make_registry(
    scans: ScanStore, images: ImageStore, settings: Settings, rate: SubmissionRate | None
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(scans, images))
    registry.register(LimitsCollector(settings, rate))
    return registry
