"""Re-evaluation after an update matches again only the catalogs the update touched, and
records exactly what a full re-match would (SQLite and PostgreSQL, real OSV records)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy.engine import Engine

from service.catalog.model import Catalog, PackageType
from service.store.catalogs import CatalogStore
from service.store.database import alembic_config, make_engine, migrate_to_head
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from service.vulndb.reevaluate import ReevaluationResult, reevaluate
from service.vulndb.store import VulnStore
from service.wiring import CatalogRecords
from tests.support.postgres import schema_engine
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

NPM = VULNDATA / "osv" / "npm"
LODASH = ("npm", "lodash")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        yield make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
        return
    with schema_engine("tollgate_reevaluate") as engine:
        yield engine


@dataclass
class Stored:
    """Two stored images: A holds lodash (no minimist), B minimist (no lodash)."""

    catalogs: CatalogStore
    db: VulnStore
    a: Catalog
    b: Catalog

    @property
    def digests(self) -> list[str]:
        return [self.a.image.digest, self.b.image.digest]

    def reevaluate(self) -> ReevaluationResult:
        """``reevaluate``, checked against a full re-match: every image's findings and diff."""
        images = [self.a, self.b]
        before = {
            c.image.digest: {f.key for f in self.catalogs.findings(c.image.digest)} for c in images
        }
        result = reevaluate(self.catalogs, self.db)
        expected = {}
        for catalog in images:
            digest, now = catalog.image.digest, match(catalog, self.db)
            assert self.catalogs.findings(digest) == now
            keys = {f.key for f in now}
            if keys != before[digest]:
                expected[digest] = (keys - before[digest], before[digest] - keys)
        assert {
            d.digest: ({f.key for f in d.new}, {f.key for f in d.resolved}) for d in result.diffs
        } == expected
        assert result.images == len(images)
        return result


@pytest.fixture
def stored(engine: Engine) -> Stored:
    catalogs = CatalogStore(engine)
    a = make_catalog([pkg("lodash", "4.17.11", PackageType.NPM)], digest="sha256:" + "a" * 64)
    b = make_catalog([pkg("minimist", "0.0.8", PackageType.NPM)], digest="sha256:" + "b" * 64)
    catalogs.save(a)
    catalogs.save(b)
    return Stored(catalogs, VulnStore(engine), a, b)


def _naming(package: str) -> list[Path]:
    return sorted(
        p
        for p in NPM.glob("*.json")
        if any(a["package"]["name"] == package for a in json.loads(p.read_text())["affected"])
    )


def _feed(folder: Path, records: list[Path]) -> OSVFeed:
    folder.mkdir()
    for path in records:
        (folder / path.name).write_bytes(path.read_bytes())
    return OSVFeed("npm", str(folder))


def _newer(folder: Path, record: Path, **changes: str) -> tuple[OSVFeed, dict[str, Any]]:
    """A feed of ``record`` with ``changes``, modified later than any real record."""
    data = {**json.loads(record.read_text()), **changes, "modified": "2099-01-01T00:00:00Z"}
    folder.mkdir()
    (folder / record.name).write_text(json.dumps(data))
    return OSVFeed("npm", str(folder)), data


def test_an_update_rematches_only_the_images_holding_a_changed_package(
    stored: Stored, tmp_path: Path
) -> None:
    db = stored.db
    lodash = _naming("lodash")
    assert len(lodash) >= 2 and not set(lodash) & set(_naming("minimist"))
    initial = [p for p in sorted(NPM.glob("*.json")) if p not in lodash[1:]]
    db.import_feed(_feed(tmp_path / "initial", initial))
    assert stored.reevaluate().rematched == 2  # never matched before

    before = db.revision()
    added = db.import_feed(_feed(tmp_path / "update", lodash[1:]))
    changed = db.changed_packages(before)
    assert added.added == len(lodash) - 1 and changed is not None
    assert LODASH in changed and ("npm", "minimist") not in changed
    result = stored.reevaluate()
    assert result.rematched == 1 and [d.digest for d in result.diffs] == [stored.digests[0]]
    assert result.images_gained == 1
    assert stored.catalogs.matched_revisions() == {db.revision(): stored.digests}


def test_a_withdrawn_record_counts_as_a_change_of_its_packages(
    stored: Stored, tmp_path: Path
) -> None:
    db = stored.db
    db.import_feed(OSVFeed("npm", str(NPM)))
    stored.reevaluate()

    feed, record = _newer(tmp_path / "withdrawn", _naming("lodash")[0], withdrawn="2099-01-01")
    before = db.revision()
    assert db.import_feed(feed).withdrawn == 1
    assert db.changed_packages(before) == {
        ("npm", affected["package"]["name"]) for affected in record["affected"]
    }
    result = stored.reevaluate()
    assert result.rematched == 1 and result.images_lost == 1 and result.images_gained == 0


def test_an_update_that_changes_nothing_rematches_nothing(stored: Stored) -> None:
    db = stored.db
    db.import_feed(OSVFeed("npm", str(NPM)))
    stored.reevaluate()

    before = db.revision()
    assert not db.import_feed(OSVFeed("npm", str(NPM))).changed
    assert db.revision() == before + 1 and db.changed_packages(before) == set()
    result = stored.reevaluate()
    assert (result.rematched, result.diffs) == (0, ())
    assert stored.catalogs.matched_revisions() == {before + 1: stored.digests}
    assert db.changed_packages(before + 2) is None  # not a revision of this database


def test_a_database_from_before_the_change_log_is_rematched_then_incremental(
    engine: Engine, stored: Stored, tmp_path: Path
) -> None:
    """Data and catalogs stored at schema 0001 (no change log, no keys, no matched revision),
    upgraded: everything is matched again until the log covers what changed."""
    db = stored.db
    lodash = _naming("lodash")
    initial = _feed(tmp_path / "initial", [p for p in NPM.glob("*.json") if p not in lodash])
    db.import_feed(initial)
    reevaluate(stored.catalogs, db)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001_initial")
    migrate_to_head(engine)
    legacy = db.revision()
    assert stored.catalogs.matched_revisions() == {None: stored.digests}
    assert db.changed_packages(legacy - 1) is None

    # findings and keys unknown: both matched again (nothing changed), then known
    first = stored.reevaluate()
    assert (first.rematched, first.diffs) == (2, ())
    assert stored.catalogs.matched_revisions() == {legacy: stored.digests}

    # the first logged change is two revisions after the catalogs' one: the log cannot
    # tell what the revision between changed, so all are matched again
    assert not db.import_feed(initial).changed
    assert db.import_feed(OSVFeed("npm", str(NPM))).added == len(lodash)
    assert db.changed_packages(legacy) is None
    second = stored.reevaluate()
    assert second.rematched == 2 and [d.digest for d in second.diffs] == [stored.digests[0]]

    # from here on the log covers every change: incremental
    feed, _ = _newer(tmp_path / "changed", lodash[0], summary="changed")
    since = db.revision()
    assert db.import_feed(feed).updated == 1
    assert LODASH in (db.changed_packages(since) or set())
    assert stored.reevaluate().rematched == 1


def test_a_catalog_stored_again_counts_as_unmatched(stored: Stored) -> None:
    catalogs, digest = stored.catalogs, stored.digests[0]
    catalogs.record_findings({digest: []}, 3)
    catalogs.mark_current([digest], 2, 5)  # matched at 3, not 2: left as it is
    assert catalogs.matched_revisions() == {3: [digest], None: [stored.digests[1]]}
    catalogs.mark_current([digest], 3, 5)
    assert catalogs.matched_revisions()[5] == [digest]
    assert catalogs.digests_holding({LODASH}, stored.digests) == {digest}
    assert catalogs.digests_holding({LODASH}, []) == set()
    catalogs.save(stored.a)
    assert catalogs.matched_revisions() == {None: stored.digests}


def test_a_scan_records_the_revision_read_before_it_matched(stored: Stored, tmp_path: Path) -> None:
    """An import committing while a scan matches must not make that scan's findings count
    as current at the import's revision: the next re-evaluation matches the image again."""
    db = stored.db
    lodash = _naming("lodash")
    db.import_feed(
        _feed(tmp_path / "initial", [p for p in sorted(NPM.glob("*.json")) if p not in lodash])
    )
    stored.reevaluate()
    records = CatalogRecords(stored.catalogs, db)
    records.save(stored.a)
    before = db.revision()
    findings = match(stored.a, db)
    db.import_feed(_feed(tmp_path / "during", lodash))  # commits while the scan matches
    records.record(stored.a.image.digest, findings)
    assert stored.a.image.digest in stored.catalogs.matched_revisions()[before]
    result = stored.reevaluate()  # checked against a full re-match
    assert result.images_gained == 1
