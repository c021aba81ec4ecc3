"""A bundle's decision on a stored scan, made without recording it: what a policy or
allowlist change would decide before the next scan records it."""

from __future__ import annotations

from datetime import datetime

from policies.decision import Decision
from policies.engine import evaluate_bundle
from policies.model import Bundle
from service.admission.stored import stored_subject
from service.console.context import ConsoleContext
from service.image.reference import parse_reference


def dry_run(
    console: ConsoleContext, bundle: Bundle, reference: str, digest: str, *, now: datetime
) -> Decision | None:
    """``bundle``'s decision on the stored scan of ``digest``; None when none is stored."""
    subject = stored_subject(console.catalogs, console.scans, digest, parse_reference(reference))
    return evaluate_bundle(bundle, subject, now=now) if subject is not None else None
