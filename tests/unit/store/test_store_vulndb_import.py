"""Importing feeds: incremental, idempotent, atomic; malformed records skipped and counted."""

from __future__ import annotations

import http.server
import io
import json
import shutil
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.errors import VulnDBError
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.osv import OSVFeed, parse_osv
from service.vulndb.records import SkippedRecord, VulnRecord
from tests.unit.vulndb.realdata import VULNDATA

NPM = VULNDATA / "osv" / "npm"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def test_reimport_is_idempotent(engine: Engine) -> None:
    store = VulnStore(engine)
    first = store.import_feed(OSVFeed("npm", str(NPM)))
    second = store.import_feed(OSVFeed("npm", str(NPM)))
    assert first.added == len(list(NPM.glob("*.json")))
    assert (second.added, second.updated, second.unchanged) == (0, 0, first.added)
    assert store.status().advisories_per_ecosystem["npm"] == sum(
        len({a["package"]["name"] for a in json.loads(p.read_text())["affected"]})
        for p in NPM.glob("*.json")
    )


def test_update_only_newer_records(engine: Engine, tmp_path: Path) -> None:
    store = VulnStore(engine)
    store.import_feed(OSVFeed("npm", str(NPM)))
    changed = tmp_path / "feed"
    changed.mkdir()
    record = json.loads(next(iter(sorted(NPM.glob("*.json")))).read_text())
    newer = {**record, "modified": "2099-01-01T00:00:00Z", "summary": "changed"}
    older = {**record, "modified": "1999-01-01T00:00:00Z", "summary": "stale"}
    (changed / "a.json").write_text(json.dumps(newer))
    assert store.import_feed(OSVFeed("npm", str(changed))).updated == 1
    (changed / "a.json").write_text(json.dumps(older))
    assert store.import_feed(OSVFeed("npm", str(changed))).unchanged == 1
    name = record["affected"][0]["package"]["name"]
    summaries = {
        a.summary for a in store.advisories([("npm", name)])[("npm", name)] if a.id == record["id"]
    }
    assert summaries == {"changed"}


def test_malformed_records_are_skipped_and_counted(engine: Engine, tmp_path: Path) -> None:
    feed_dir = tmp_path / "feed"
    shutil.copytree(NPM, feed_dir)
    (feed_dir / "broken.json").write_text("{not json")
    (feed_dir / "noid.json").write_text(json.dumps({"modified": "2020-01-01T00:00:00Z"}))
    result = VulnStore(engine).import_feed(OSVFeed("npm", str(feed_dir)))
    assert result.skipped == 2
    assert result.added == len(list(NPM.glob("*.json")))


class _FailingFeed(Feed):
    source = "osv:npm"

    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        for path in sorted(NPM.glob("*.json"))[:3]:
            record = json.loads(path.read_text())
            yield parse_osv({**record, "modified": "2099-01-01T00:00:00Z", "affected": []})
        raise VulnDBError("connection lost half-way")


def test_failed_import_keeps_previous_data(engine: Engine) -> None:
    store = VulnStore(engine)
    store.import_feed(OSVFeed("npm", str(NPM)))
    before = store.status()
    lodash = store.advisories([("npm", "lodash")])
    with pytest.raises(VulnDBError):
        store.import_feed(_FailingFeed())
    assert store.status() == before
    assert VulnStore(engine).advisories([("npm", "lodash")]) == lodash


def test_download_from_url(engine: Engine, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in NPM.glob("*.json"):
            archive.write(path, path.name)
    (tmp_path / "npm").mkdir()
    (tmp_path / "npm" / "all.zip").write_bytes(buffer.getvalue())
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/npm/all.zip"
        result = VulnStore(engine).import_feed(OSVFeed("npm", url))
        assert result.added == len(list(NPM.glob("*.json")))
        with pytest.raises(VulnDBError, match="could not download"):
            VulnStore(engine).import_feed(OSVFeed("npm", url + ".missing"))
    finally:
        server.shutdown()
        server.server_close()


def test_missing_path_is_an_actionable_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(VulnDBError, match="does not exist"):
        VulnStore(engine).import_feed(OSVFeed("npm", str(tmp_path / "nope")))
