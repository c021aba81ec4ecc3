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
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from service.errors import TollgateError
from service.store.images import ImageStore
from service.store.scans import ScanStatus, ScanStore

logger = logging.getLogger(__name__)

DURATION_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class StoreCollector(Collector):
    def __init__(self, scans: ScanStore, images: ImageStore) -> None:
        self._scans = scans
        self._images = images

    def collect(self) -> Iterator[Metric]:
        try:
            counts = self._scans.counts_by_status()
            cumulative, count, total = self._scans.duration_buckets(DURATION_BUCKETS)
            totals = self._images.totals()
        except TollgateError as error:
            logger.warning("metrics unavailable: %s", error)
            return
        queue = GaugeMetricFamily("tollgate_queue_depth", "Scans waiting for a worker")
        queue.add_metric([], counts[ScanStatus.QUEUED])
        yield queue
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


def make_registry(scans: ScanStore, images: ImageStore) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(scans, images))
    return registry
