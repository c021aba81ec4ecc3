"""The decision stage: pick the stored policy bundle, evaluate one image, record why.

Bundles live in the database (``tollgate policy apply``); when the named bundle
is absent and it is one Tollgate ships in ``policies/bundles``, it is seeded
from that YAML first, so a fresh install decides with the default policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources

from policies.decision import Decision
from policies.engine import evaluate_bundle
from policies.loader import parse_bundle
from policies.model import Bundle
from policies.subject import EvaluationInput
from service.errors import NotFoundError, PolicyConflictError
from service.store.policies import PolicyStore

log = logging.getLogger(__name__)

DEFAULT_BUNDLE = "default"


def shipped_bundle(name: str) -> Bundle | None:
    """A bundle shipped as ``policies/bundles/<name>.yaml``, or None."""
    resource = resources.files("policies") / "bundles" / f"{name}.yaml"
    if not resource.is_file():
        return None
    return parse_bundle(
        resource.read_text(encoding="utf-8"), source=f"policies/bundles/{name}.yaml"
    )


class PolicyGate:
    def __init__(
        self, store: PolicyStore, *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self._store = store
        self._clock = clock

    def bundle(self, name: str = DEFAULT_BUNDLE) -> Bundle:
        try:
            return self._store.get(name)
        except NotFoundError:
            shipped = shipped_bundle(name)
            if shipped is None:
                raise
            log.info("seeding policy bundle %s from policies/bundles", name)
            try:
                return self._store.apply(shipped, author="tollgate (seed)", now=self._clock())
            except PolicyConflictError:  # another worker seeded it at the same moment
                return self._store.get(name)

    def decide(
        self,
        subject: EvaluationInput,
        bundle_name: str = DEFAULT_BUNDLE,
        *,
        trigger: str | None = None,
        record: bool = True,
    ) -> Decision:
        """Evaluate and, unless ``record`` is False (a dry run), record the decision with
        what triggered it (auditable later by digest)."""
        decision = evaluate_bundle(self.bundle(bundle_name), subject, now=self._clock())
        if trigger is not None:
            decision = decision.model_copy(update={"trigger": trigger})
        if record:
            self._store.record(decision)
        return decision
