"""A new version of a policy bundle, from the API or the console: stored, and when the
service decides with that bundle, every stored image is decided again in the background
(the new decisions name the version as their trigger)."""

from __future__ import annotations

from datetime import UTC, datetime

from policies.model import Bundle
from service.jobs.dispatch import Dispatcher
from service.store.policies import PolicyStore


def apply_bundle(
    policies: PolicyStore, dispatcher: Dispatcher, bundle: Bundle, *, author: str, decides: str
) -> Bundle:
    """Store ``bundle`` as its next version; ``decides``: the bundle the service decides
    with (``TOLLGATE_POLICY_BUNDLE``)."""
    stored = policies.apply(bundle, author=author, now=datetime.now(UTC))
    if stored.name == decides:
        dispatcher.redecide(f"policy bundle {stored.name} v{stored.version}")
    return stored
