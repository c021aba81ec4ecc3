"""The vulnerability DB and catalog store on real PostgreSQL (127.0.0.1:5432, db test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from service.catalog.model import Distro, PackageType
from service.errors import VulnDBError
from service.rematch import reevaluate
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from tests.support.postgres import schema_engine
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    with schema_engine("tollgate_vulndb") as engine:
        yield engine


def test_import_match_reevaluate_on_postgres(pg_engine: Engine, tmp_path: object) -> None:
    db = VulnStore(pg_engine)
    catalogs = CatalogStore(pg_engine)
    catalog = make_catalog(
        [
            pkg("lodash", "4.17.11", PackageType.NPM),
            pkg("libssl1.1", "1.1.1d-r0", PackageType.APK, source_name="openssl"),
        ],
        Distro(id="alpine", version_id="3.11.6"),
    )
    catalogs.save(catalog, matchable(catalog))
    npm = db.import_feed(OSVFeed("npm", str(VULNDATA / "osv" / "npm")))
    alpine = db.import_feed(AlpineSecdbFeed(str(VULNDATA / "alpine" / "secdb-legacy" / "v3.11")))
    assert npm.added and alpine.added
    assert db.import_feed(OSVFeed("npm", str(VULNDATA / "osv" / "npm"))).unchanged == npm.added

    # the same records in SQLite give the same findings
    lite = VulnStore(make_engine("sqlite://"))
    lite.import_feed(OSVFeed("npm", str(VULNDATA / "osv" / "npm")))
    lite.import_feed(AlpineSecdbFeed(str(VULNDATA / "alpine" / "secdb-legacy" / "v3.11")))
    findings = match(catalog, db)
    assert findings and findings == match(catalog, lite)

    outcome = reevaluate(catalogs, db)
    assert outcome.images_gained == 1
    assert catalogs.findings(catalog.image.digest) == findings
    assert {e.finding.key for e in catalogs.events()} == {f.key for f in findings}


def test_failed_import_rolls_back_on_postgres(pg_engine: Engine) -> None:
    db = VulnStore(pg_engine)
    db.import_feed(OSVFeed("npm", str(VULNDATA / "osv" / "npm")))
    before = db.status()
    with pytest.raises(VulnDBError):
        db.import_feed(OSVFeed("npm", "/nonexistent/all.zip"))
    assert db.status() == before
