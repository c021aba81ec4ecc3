"""Real advisory data (../shared/vulndata) imported once into a SQLite vulnerability DB."""

from __future__ import annotations

import pytest

from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.debian_tracker import DebianTrackerFeed
from service.vulndb.feeds.osv import OSVFeed
from tests.unit.vulndb.realdata import VULNDATA


@pytest.fixture(scope="session")
def real_db(tmp_path_factory: pytest.TempPathFactory) -> VulnStore:
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('vulndb') / 'v.db'}")
    store = VulnStore(engine)
    for folder, ecosystem in (
        ("PyPI", "PyPI"),
        ("PyPI-GHSA", "PyPI"),
        ("npm", "npm"),
        ("Maven", "Maven"),
        ("Go", "Go"),
    ):
        store.import_feed(OSVFeed(ecosystem, str(VULNDATA / "osv" / folder)))
    store.import_feed(AlpineSecdbFeed(str(VULNDATA / "alpine" / "secdb-legacy")))
    store.import_feed(
        DebianTrackerFeed("dsa", str(VULNDATA / "debian" / "security-tracker-2023-03" / "DSA-list"))
    )
    return store
