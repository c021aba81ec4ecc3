"""CVE facts in the store: an NVD import changes the findings of stored images on the
next re-match (only images holding a package whose advisories name a changed CVE), and
the migration fills in the CVEs of advisories imported before it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlmodel import Session, select

from service.catalog.model import PackageType
from service.rematch import reevaluate
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.cve_facts import AdvisoryCveRow
from service.store.database import alembic_config, make_engine, migrate_to_head
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.nvd import NVDFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.model import Severity
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

PYSEC = VULNDATA / "osv" / "PyPI"


def test_an_nvd_import_rates_the_findings_of_stored_images(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db, catalogs = VulnStore(engine), CatalogStore(engine)
    pillow = make_catalog([pkg("pillow", "6.2.0", PackageType.PYTHON)], digest="sha256:" + "a" * 64)
    other = make_catalog([pkg("lxml", "4.0.0", PackageType.PYTHON)], digest="sha256:" + "b" * 64)
    for catalog in (pillow, other):
        catalogs.save(catalog, matchable(catalog))
    db.import_feed(OSVFeed("PyPI", str(PYSEC)))
    reevaluate(catalogs, db)
    unrated = [f for f in catalogs.findings(pillow.image.digest) if f.severity_source is None]
    assert unrated

    db.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    result = reevaluate(catalogs, db)

    assert result.rematched == 1  # lxml's advisories name no CVE NVD's import changed
    (diff,) = result.diffs
    assert diff.digest == pillow.image.digest and not diff.new and not diff.resolved
    stored = {f.id: f for f in catalogs.findings(pillow.image.digest)}
    rated_now = {i for i, f in stored.items() if f.severity_source == "nvd"}
    assert {f.id for f in diff.updated} == rated_now
    assert rated_now <= {f.id for f in unrated}
    assert stored["CVE-2022-22817"].severity is Severity.CRITICAL
    assert stored["CVE-2022-22817"].severity_source == "nvd"


def test_the_migration_fills_in_the_cves_of_stored_advisories(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    db = VulnStore(engine)
    db.import_feed(OSVFeed("PyPI", str(PYSEC)))
    with Session(engine) as session:
        expected = sorted(
            (r.source, r.record_id, r.cve_id, r.ecosystem, r.package)
            for r in session.exec(select(AdvisoryCveRow))
        )
    assert ("osv:PyPI", "PYSEC-2022-10", "CVE-2022-22817", "PyPI", "pillow") in expected
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004_feed_skipped_entries")
    migrate_to_head(engine)
    with Session(engine) as session:
        rows = sorted(
            (r.source, r.record_id, r.cve_id, r.ecosystem, r.package)
            for r in session.exec(select(AdvisoryCveRow))
        )
    assert rows == expected
