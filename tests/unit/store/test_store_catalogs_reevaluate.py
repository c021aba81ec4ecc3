"""Stored catalogs are matched again after DB updates; gained/lost findings become events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.catalog.model import PackageType
from service.errors import NotFoundError
from service.rematch import reevaluate
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

NPM = VULNDATA / "osv" / "npm"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _lodash_records() -> list[Path]:
    return sorted(
        p
        for p in NPM.glob("*.json")
        if any(a["package"]["name"] == "lodash" for a in json.loads(p.read_text())["affected"])
    )


def test_catalog_roundtrip(engine: Engine) -> None:
    store = CatalogStore(engine)
    catalog = make_catalog([pkg("lodash", "4.17.11", PackageType.NPM)])
    store.save(catalog, matchable(catalog))
    assert store.get(catalog.image.digest) == catalog
    with pytest.raises(NotFoundError):
        store.get("sha256:" + "f" * 64)


def test_reevaluation_reports_new_and_resolved_findings(engine: Engine, tmp_path: Path) -> None:
    catalogs, db = CatalogStore(engine), VulnStore(engine)
    vulnerable = make_catalog(
        [pkg("lodash", "4.17.11", PackageType.NPM)], digest="sha256:" + "a" * 64
    )
    patched = make_catalog([pkg("lodash", "4.17.21", PackageType.NPM)], digest="sha256:" + "b" * 64)
    catalogs.save(vulnerable, matchable(vulnerable))
    catalogs.save(patched, matchable(patched))
    records = _lodash_records()
    assert len(records) >= 2
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / records[0].name).write_bytes(records[0].read_bytes())
    db.import_feed(OSVFeed("npm", str(feed)))
    first = reevaluate(catalogs, db)
    assert first.images == 2

    for path in records[1:]:
        (feed / path.name).write_bytes(path.read_bytes())
    db.import_feed(OSVFeed("npm", str(feed)))
    second = reevaluate(catalogs, db)
    expected_now = match(vulnerable, db)
    gained = {f.key for d in second.diffs for f in d.new}
    assert gained == {f.key for f in expected_now} - {
        f.key for f in match(vulnerable, _only(engine, tmp_path, records[:1]))
    }
    assert catalogs.findings(vulnerable.image.digest) == expected_now
    assert catalogs.findings(patched.image.digest) == match(patched, db)

    withdrawn = json.loads(records[0].read_text())
    withdrawn.update(withdrawn="2099-01-01T00:00:00Z", modified="2099-01-01T00:00:00Z")
    (feed / records[0].name).write_text(json.dumps(withdrawn))
    db.import_feed(OSVFeed("npm", str(feed)))
    third = reevaluate(catalogs, db)
    resolved = {f.id for d in third.diffs for f in d.resolved}
    assert withdrawn["id"] in {
        i for d in third.diffs for f in d.resolved for i in (f.id, *f.aliases)
    }
    assert third.images_lost == 1 and third.images_gained == 0
    assert resolved
    kinds = [e.kind for e in catalogs.events(vulnerable.image.digest)]
    assert kinds.count("resolved") == len(resolved)


def _only(engine: Engine, tmp_path: Path, records: list[Path]) -> VulnStore:
    """A separate DB holding only ``records`` (what the first import knew)."""
    folder = tmp_path / "first"
    folder.mkdir(exist_ok=True)
    for path in records:
        (folder / path.name).write_bytes(path.read_bytes())
    store = VulnStore(make_engine(f"sqlite:///{tmp_path / 'first.sqlite'}"))
    store.import_feed(OSVFeed("npm", str(folder)))
    return store
