"""Match stored catalogs again (after a DB update) and record what changed.

Only what an update can have changed is matched again. A catalog whose findings were
matched at a revision the change log reaches back from is re-matched only in the packages
whose advisories were added, changed or withdrawn since (read from the packages the store
keeps, without loading the catalog); only their findings are replaced. Catalogs whose
revision or packages the store does not know (stored before it kept them, or the change
log does not reach back) are loaded and matched whole. The others are marked current at
the new revision. Packages only exploitation signals changed for (a KEV or EPSS import)
are not matched again: their stored findings get the signals the feeds now hold.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore, FindingDiff
from service.vulndb.ecosystems import matchable
from service.vulndb.matcher import Matcher
from service.vulndb.model import PackageKey

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

    @property
    def images_updated(self) -> int:
        """Images whose findings stayed but changed (e.g. rated by a new NVD import)."""
        return sum(1 for d in self.diffs if d.updated)


def reevaluate(catalogs: CatalogStore, db: VulnStore, *, batch: int = 200) -> ReevaluationResult:
    """Re-match the stored catalogs whose findings ``db`` may have changed; no registry is
    contacted."""
    revision = db.revision()
    images, unindexed, whole = 0, set[str](), list[str]()
    partial = list[tuple[_Changes, list[str]]]()  # changed keys, the digests holding one
    for matched_at, digests in catalogs.matched_revisions().items():
        images += len(digests)
        if matched_at is None:
            unindexed.update(digests)
        elif matched_at != revision:
            changed = db.changed_packages(matched_at)
            if changed is None:
                whole.extend(digests)
                continue
            hit = catalogs.digests_holding(changed, digests)
            catalogs.mark_current([d for d in digests if d not in hit], matched_at, revision)
            signals = db.signal_packages(matched_at)
            partial.append((_Changes(changed - signals, signals), sorted(hit)))
    matcher = Matcher(db)
    diffs = list[FindingDiff]()
    for keys, digests in partial:
        for start in range(0, len(digests), batch):
            chunk = digests[start : start + batch]
            diffs.extend(_rematch_packages(catalogs, matcher, chunk, keys, revision))
    todo = sorted([*whole, *unindexed])
    for start in range(0, len(todo), batch):
        loaded = list(catalogs.catalogs(todo[start : start + batch], batch=batch))
        catalogs.index_packages(
            {c.image.digest: matchable(c) for c in loaded if c.image.digest in unindexed}
        )
        results = {c.image.digest: matcher.match(c) for c in loaded}
        diffs.extend(catalogs.record_findings(results, revision))
    rematched = len(todo) + sum(len(digests) for _, digests in partial)
    changes = tuple(sorted((d for d in diffs if d.changed), key=lambda d: d.digest))
    result = ReevaluationResult(images=images, rematched=rematched, diffs=changes)
    logger.info(
        "re-evaluated %d images (%d re-matched): %d gained, %d lost, %d updated findings",
        images,
        rematched,
        result.images_gained,
        result.images_lost,
        result.images_updated,
    )
    return result


@dataclass(frozen=True)
class _Changes:
    """The changed keys: those to match again, those only signals changed for."""

    match: set[PackageKey]
    signals: set[PackageKey]


def _rematch_packages(
    catalogs: CatalogStore,
    matcher: Matcher,
    digests: list[str],
    changed: _Changes,
    revision: int,
) -> list[FindingDiff]:
    """Match again the packages of ``digests`` looked up under keys to match again, give
    the findings of those looked up under keys only signals changed for their new signals,
    and replace those findings."""
    packages = catalogs.packages(digests, changed.match) if changed.match else {}
    signalled = catalogs.packages(digests, changed.signals) if changed.signals else {}
    held = {digest: packages.get(digest, []) for digest in digests}
    results = {d: matcher.match_packages((p.lookup, p.ref) for p in held[d]) for d in digests}
    scopes = {digest: {p.key for p in stored} for digest, stored in held.items()}
    refresh = {d: {p.key for p in signalled.get(d, [])} - scopes[d] for d in digests}
    read = catalogs.stored_findings(refresh)
    for digest, findings in read.items():
        results[digest] += matcher.with_signals(findings)
        scopes[digest] |= refresh[digest]
    known = {digest: {f.key: f for f in findings} for digest, findings in read.items()}
    return catalogs.record_findings(results, revision, scopes, known)
