"""Re-evaluation after an update matches again only the catalogs the update touched, and
records exactly what a full re-match would (SQLite and PostgreSQL, real OSV records)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from service.catalog.model import Catalog, Distro, Package, PackageType
from service.rematch import ReevaluationResult, reevaluate
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogFindingRow, CatalogStore, StoredCatalogRow
from service.store.database import alembic_config, migrate_to_head
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.debian_tracker import DebianTrackerFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from service.vulndb.model import Finding
from service.wiring import CatalogRecords
from tests.support.postgres import BACKENDS, store_engine
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg

NPM = VULNDATA / "osv" / "npm"
DSA = VULNDATA / "debian" / "security-tracker-2023-03" / "DSA-list"
LODASH = ("npm", "lodash")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with store_engine(request.param, tmp_path, "tollgate_reevaluate") as engine:
        yield engine


@dataclass
class Stored:
    """Two stored images (by default A holds lodash, no minimist, and B minimist, no
    lodash)."""

    catalogs: CatalogStore
    db: VulnStore
    a: Catalog
    b: Catalog

    @classmethod
    def save(cls, engine: Engine, a: Catalog, b: Catalog) -> Stored:
        catalogs = CatalogStore(engine)
        catalogs.save(a, matchable(a))
        catalogs.save(b, matchable(b))
        return cls(catalogs, VulnStore(engine), a, b)

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
            # one finding per key, the last of a duplicate package's as a full match records
            digest, now = catalog.image.digest, list(_by_key(match(catalog, self.db)).values())
            assert self.catalogs.findings(digest) == now
            keys = {f.key for f in now}
            if keys != before[digest]:
                expected[digest] = (keys - before[digest], before[digest] - keys)
        assert {
            d.digest: ({f.key for f in d.new}, {f.key for f in d.resolved})
            for d in result.diffs
            if d.new or d.resolved  # not the findings only updated (e.g. a new summary)
        } == expected
        assert result.images == len(images)
        return result

    def rows(self, digest: str) -> dict[tuple[str, str], int | None]:
        """The ids of the finding rows stored for ``digest``, by finding key."""
        with Session(self.catalogs.engine) as session:
            rows = session.exec(select(CatalogFindingRow).where(CatalogFindingRow.digest == digest))
            return {(row.vuln_id, row.package_key): row.id for row in rows}

    def forget_catalogs(self) -> None:
        """Make the stored catalogs unreadable: only their stored packages can be matched."""
        with Session(self.catalogs.engine) as session:
            session.execute(update(StoredCatalogRow).values(payload="{}"))
            session.commit()


def _by_key(findings: list[Finding]) -> dict[tuple[str, str], Finding]:
    return {f.key: f for f in findings}


@pytest.fixture
def stored(engine: Engine) -> Stored:
    a = make_catalog([pkg("lodash", "4.17.11", PackageType.NPM)], digest="sha256:" + "a" * 64)
    b = make_catalog([pkg("minimist", "0.0.8", PackageType.NPM)], digest="sha256:" + "b" * 64)
    return Stored.save(engine, a, b)


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
    catalogs.save(stored.a, matchable(stored.a))
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


def test_only_the_changed_packages_of_an_image_are_matched_and_their_findings_replaced(
    engine: Engine, tmp_path: Path
) -> None:
    """A holds lodash (changed by the update) and minimist (untouched): the update is matched
    from A's stored packages, minimist's finding rows stay as they were."""
    lodash, minimist = _naming("lodash"), _naming("minimist")
    a = make_catalog(
        [pkg("lodash", "4.17.11", PackageType.NPM), pkg("minimist", "0.0.8", PackageType.NPM)],
        digest="sha256:" + "a" * 64,
    )
    b = make_catalog([pkg("minimist", "0.0.8", PackageType.NPM)], digest="sha256:" + "b" * 64)
    stored = Stored.save(engine, a, b)
    stored.db.import_feed(
        _feed(tmp_path / "initial", [p for p in sorted(NPM.glob("*.json")) if p not in lodash[1:]])
    )
    stored.reevaluate()
    before = stored.rows(a.image.digest)
    untouched = {key: row for key, row in before.items() if key[1] == "npm:minimist@0.0.8"}
    assert untouched and len(untouched) < len(before) and minimist

    stored.db.import_feed(_feed(tmp_path / "update", lodash[1:]))
    stored.forget_catalogs()
    result = stored.reevaluate()
    assert result.rematched == 1 and result.images_gained == 1
    after = stored.rows(a.image.digest)
    assert {key: row for key, row in after.items() if key in untouched} == untouched
    assert before.items() < after.items()  # the lodash findings that held are kept too
    assert {key[1] for key in after.keys() - before.keys()} == {"npm:lodash@4.17.11"}


def test_os_packages_are_rematched_by_their_source_package(engine: Engine, tmp_path: Path) -> None:
    """Two binary packages of openssl, looked up under the source key the update changes,
    both gain its findings; xorg-server's stay."""
    text = DSA.read_text()
    blocks = re.split(r"(?m)^(?=\[)", text)
    fix = "[bullseye] - openssl 1.1.1n-0+deb11u4"
    initial, update_ = tmp_path / "initial" / "DSA-list", tmp_path / "update" / "DSA-list"
    initial.parent.mkdir()
    initial.write_text("".join(b for b in blocks if fix not in b))
    update_.parent.mkdir()
    update_.write_text(text)
    bullseye = Distro(id="debian", version_id="11")

    def deb(name: str, source: str, version: str) -> Package:
        return pkg(name, version, PackageType.DEB, source_name=source, source_version=version)

    xorg = deb("xserver-xorg-core", "xorg-server", "2:1.20.11-1+deb11u5")
    openssl = [deb(n, "openssl", "1.1.1n-0+deb11u3") for n in ("libssl1.1", "openssl")]
    a = make_catalog([*openssl, xorg], bullseye, digest="sha256:" + "a" * 64)
    b = make_catalog([xorg], bullseye, digest="sha256:" + "b" * 64)
    stored = Stored.save(engine, a, b)
    stored.db.import_feed(DebianTrackerFeed("dsa", str(initial)))
    stored.reevaluate()
    before = stored.rows(a.image.digest)

    revision = stored.db.revision()
    stored.db.import_feed(DebianTrackerFeed("dsa", str(update_)))
    assert ("Debian:11", "openssl") in (stored.db.changed_packages(revision) or set())
    stored.forget_catalogs()
    result = stored.reevaluate()
    assert result.rematched == 1 and [d.digest for d in result.diffs] == [a.image.digest]
    gained = {f.key for f in result.diffs[0].new}
    assert {key[1] for key in gained} == {p.key for p in openssl}
    assert {key[0] for key in gained if key[1] == openssl[0].key} == {
        key[0] for key in gained if key[1] == openssl[1].key
    }
    assert before.items() < stored.rows(a.image.digest).items()


@pytest.mark.parametrize("duplicate", ["same package", "same key, other version", "other name"])
def test_packages_sharing_a_key_are_rematched_together(
    engine: Engine, tmp_path: Path, duplicate: str
) -> None:
    """Two packages of A stored under one package key (one purl), only one of them looked up
    under the changed key: the findings stored under that key are what a full match gives."""
    purl = "pkg:npm/lodash@4.17.11"
    other = {
        "same package": pkg("lodash", "4.17.11", PackageType.NPM, purl=purl),
        "same key, other version": pkg("lodash", "4.17.4", PackageType.NPM, purl=purl),
        "other name": pkg("minimist", "0.0.8", PackageType.NPM, purl=purl),
    }[duplicate]
    a = make_catalog(
        [pkg("lodash", "4.17.11", PackageType.NPM, purl=purl), other], digest="sha256:" + "a" * 64
    )
    b = make_catalog([pkg("minimist", "0.0.8", PackageType.NPM)], digest="sha256:" + "b" * 64)
    assert len(a.packages) == 2 and len({p.key for p in a.packages}) == 1
    stored = Stored.save(engine, a, b)
    lodash = _naming("lodash")
    stored.db.import_feed(
        _feed(tmp_path / "initial", [p for p in sorted(NPM.glob("*.json")) if p not in lodash[1:]])
    )
    stored.reevaluate()
    stored.db.import_feed(_feed(tmp_path / "update", lodash[1:]))
    stored.forget_catalogs()
    result = stored.reevaluate()  # checked against a full re-match
    assert result.rematched == 1 and result.images_gained == 1
