"""Asking for a scan of an image admission does not know, on the high-priority queue."""

from __future__ import annotations

from dataclasses import replace

from service.image.model import ImageReference
from service.image.reference import format_reference
from service.jobs.dispatch import Queue
from service.jobs.submission import ScanSubmitter
from service.store.scans import ScanStore


class QueuedScans:
    """Admission's view of the scan queue: request by digest, then ask if it finished."""

    def __init__(self, submitter: ScanSubmitter, scans: ScanStore) -> None:
        self._submitter = submitter
        self._scans = scans

    def request(self, ref: ImageReference, digest: str) -> str:
        """Queue a scan of exactly ``digest`` (idempotent); returns the scan id."""
        pinned = format_reference(replace(ref, tag=None, digest=digest))
        scan, _ = self._submitter.submit(
            pinned, platform=None, source="admission", queue=Queue.ADMISSION.value
        )
        return scan.id

    def finished(self, scan_id: str) -> bool:
        return self._scans.get(scan_id).finished
