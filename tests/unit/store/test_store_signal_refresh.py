"""A KEV or EPSS import changes only exploitation signals: the stored findings get the
new signals without their packages being matched again, and the pipeline decides again
only on images where a KEV or EPSS rule counts a finding differently."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from policies.loader import parse_bundle
from service.catalog.model import Catalog, PackageType
from service.registry.outbound import OutboundPolicy
from service.rematch import reevaluate
from service.settings import Settings
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.images import ImageStore, ImageSubjectInfo
from service.store.policies import PolicyStore
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.epss import EPSSFeed
from service.vulndb.feeds.kev import KEVFeed
from service.vulndb.feeds.nvd import NVDFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import Matcher
from service.vulndb.model import PackageKey
from service.vulndb.records import Advisory
from service.wiring import components
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

PYSEC = VULNDATA / "osv" / "PyPI"
KEV = VULNDATA / "kev" / "known_exploited_vulnerabilities.json"
EPSS_BUNDLE = """
name: default
default: exploitation
policies:
  - name: exploitation
    rules:
      - {id: likely, type: epss, action: block, min_score: 0.5}
"""


class LookupCountingStore(VulnStore):
    """The store, counting the package keys the matcher looks advisories up for."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.looked_up: list[PackageKey] = []

    def advisories(self, keys: Iterable[PackageKey]) -> dict[PackageKey, tuple[Advisory, ...]]:
        wanted = list(keys)
        self.looked_up.extend(wanted)
        return super().advisories(wanted)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _image(catalogs: CatalogStore) -> Catalog:
    catalog = make_catalog(
        [pkg("pillow", "6.2.0", PackageType.PYTHON), pkg("django", "3.2.0", PackageType.PYTHON)]
    )
    catalogs.save(catalog, matchable(catalog))
    return catalog


def _epss(path: Path, scores: Mapping[str, float]) -> EPSSFeed:
    rows = "".join(f"{cve},{score},{score}\n" for cve, score in sorted(scores.items()))
    path.write_text(f"#model_version:v2025.03.14\ncve,epss,percentile\n{rows}")
    return EPSSFeed(str(path))


def test_signal_imports_log_their_packages_as_signals_only(engine: Engine) -> None:
    db = VulnStore(engine)
    db.import_feed(OSVFeed("PyPI", str(PYSEC)))
    before = db.revision()
    db.import_feed(KEVFeed(str(KEV)))
    changed = db.changed_packages(before)
    assert changed and db.signal_packages(before) == changed
    db.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    rated = db.changed_packages(db.revision() - 1) or set()
    assert rated and db.signal_packages(before) == changed - rated


def test_an_epss_import_gives_stored_findings_their_new_scores_without_a_match(
    engine: Engine, tmp_path: Path
) -> None:
    db, catalogs = LookupCountingStore(engine), CatalogStore(engine)
    catalog = _image(catalogs)
    db.import_feed(OSVFeed("PyPI", str(PYSEC)))
    reevaluate(catalogs, db)
    cves = sorted({f.id for f in catalogs.findings(catalog.image.digest)})
    db.import_feed(_epss(tmp_path / "day1.csv", {c: 0.1 for c in cves}))
    reevaluate(catalogs, db)
    db.import_feed(_epss(tmp_path / "day2.csv", {c: 0.2 + i / 1000 for i, c in enumerate(cves)}))
    db.looked_up = []

    result = reevaluate(catalogs, db)

    assert db.looked_up == []
    stored = catalogs.findings(catalog.image.digest)
    assert stored == Matcher(VulnStore(engine)).match(catalog)
    (diff,) = result.diffs
    assert {f.id for f in diff.updated} == {f.id for f in stored if f.epss is not None}
    assert [f.epss.score for f in diff.previous if f.epss] == [0.1] * len(diff.previous)


def test_the_pipeline_decides_again_only_when_an_epss_rule_counts_differently(
    engine: Engine, tmp_path: Path
) -> None:
    PolicyStore(engine).apply(
        parse_bundle(EPSS_BUNDLE, source="tests"), author="tests", now=datetime.now(UTC)
    )
    catalogs, policies = CatalogStore(engine), PolicyStore(engine)
    catalog = _image(catalogs)
    built = components(
        Settings(data_dir=tmp_path / "service"), engine, outbound=OutboundPolicy.unrestricted()
    )
    try:
        built.vulns.import_feed(OSVFeed("PyPI", str(PYSEC)))
        digest = catalog.image.digest
        ImageStore(engine).record(
            ImageSubjectInfo(
                digest=digest,
                reference="example.test/app:1",
                registry="example.test",
                repository="app",
                platform="linux/amd64",
                packages=2,
            ),
            [],
            scan_id=None,
        )
        assert built.pipeline.rematch().redecided == 1  # findings new: decided
        cves = sorted({f.id for f in catalogs.findings(digest)})
        decided = len(policies.decisions(digest))

        built.vulns.import_feed(_epss(tmp_path / "day1.csv", dict.fromkeys(cves, 0.1)))
        first = built.pipeline.rematch()
        built.vulns.import_feed(_epss(tmp_path / "day2.csv", dict.fromkeys(cves, 0.2)))
        second = built.pipeline.rematch()
        assert first.reevaluation and second.reevaluation
        assert len(second.reevaluation.diffs) == 1 and second.redecided == 0
        assert len(policies.decisions(digest)) == decided + first.redecided
        assert {f.epss.score for f in catalogs.findings(digest) if f.epss} == {0.2}

        built.vulns.import_feed(_epss(tmp_path / "day3.csv", {cves[0]: 0.9}))
        assert built.pipeline.rematch().redecided == 1
        assert policies.decisions(digest)[-1].outcome.value == "block"

        built.vulns.import_feed(NVDFeed(str(VULNDATA / "nvd")))  # severities, not signals
        assert built.pipeline.rematch().redecided == 1
    finally:
        built.close()
