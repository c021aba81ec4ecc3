"""Match stored catalogs again (after a DB update) and record what changed.

Only the catalogs an update can have changed the findings of are loaded and matched:
those holding a package whose advisories were added, changed or withdrawn since the
revision their findings were matched at, and those whose revision or packages the store
does not know (stored before it kept them, or the change log does not reach back). The
others are marked current at the new revision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.store.catalogs import CatalogStore, FindingDiff
from service.vulndb.matcher import Matcher
from service.vulndb.store import VulnStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReevaluationResult:
    images: int  # every stored image
    rematched: int  # the images matched again; the others no update touched
    diffs: tuple[FindingDiff, ...]  # only images whose findings changed

    @property
    def images_gained(self) -> int:
        return sum(1 for d in self.diffs if d.new)

    @property
    def images_lost(self) -> int:
        return sum(1 for d in self.diffs if d.resolved)


def reevaluate(catalogs: CatalogStore, db: VulnStore, *, batch: int = 200) -> ReevaluationResult:
    """Re-match the stored catalogs whose findings ``db`` may have changed; no registry is
    contacted."""
    revision = db.revision()
    images, outdated, unindexed = 0, set[str](), set[str]()
    for matched_at, digests in catalogs.matched_revisions().items():
        images += len(digests)
        if matched_at is None:
            unindexed.update(digests)
        elif matched_at != revision:
            changed = db.changed_packages(matched_at)
            hit = set(digests) if changed is None else catalogs.digests_holding(changed, digests)
            catalogs.mark_current([d for d in digests if d not in hit], matched_at, revision)
            outdated |= hit
    matcher = Matcher(db)
    todo = sorted(outdated | unindexed)
    rematched, diffs = 0, list[FindingDiff]()
    for start in range(0, len(todo), batch):
        loaded = list(catalogs.catalogs(todo[start : start + batch], batch=batch))
        catalogs.index_packages([c for c in loaded if c.image.digest in unindexed])
        results = {c.image.digest: matcher.match(c) for c in loaded}
        diffs.extend(d for d in catalogs.record_findings(results, revision) if d.changed)
        rematched += len(loaded)
    result = ReevaluationResult(images=images, rematched=rematched, diffs=tuple(diffs))
    logger.info(
        "re-evaluated %d images (%d re-matched): %d gained, %d lost findings",
        images,
        rematched,
        result.images_gained,
        result.images_lost,
    )
    return result
