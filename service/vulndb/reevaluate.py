"""Match every stored catalog again (after a DB update) and record what changed."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.store.catalogs import CatalogStore, FindingDiff
from service.vulndb.matcher import Matcher
from service.vulndb.store import VulnStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReevaluationResult:
    images: int
    diffs: tuple[FindingDiff, ...]  # only images whose findings changed

    @property
    def images_gained(self) -> int:
        return sum(1 for d in self.diffs if d.new)

    @property
    def images_lost(self) -> int:
        return sum(1 for d in self.diffs if d.resolved)


def reevaluate(catalogs: CatalogStore, db: VulnStore, *, batch: int = 200) -> ReevaluationResult:
    """Re-match all stored catalogs against ``db``; no registry is contacted."""
    revision = db.revision()
    matcher = Matcher(db)
    images = 0
    changed: list[FindingDiff] = []
    pending = {}
    for catalog in catalogs.catalogs(batch=batch):
        images += 1
        pending[catalog.image.digest] = matcher.match(catalog)
        if len(pending) >= batch:
            changed.extend(d for d in catalogs.record_findings(pending, revision) if d.changed)
            pending = {}
    if pending:
        changed.extend(d for d in catalogs.record_findings(pending, revision) if d.changed)
    result = ReevaluationResult(images=images, diffs=tuple(changed))
    logger.info(
        "re-evaluated %d images: %d gained, %d lost findings",
        images,
        result.images_gained,
        result.images_lost,
    )
    return result
