"""Import keeps what it can use: per ``affected`` entry, on real records with GIT-only and
mixed ranges and non-standard versions; withdrawn and vanished records leave matching."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.vulndb.feeds.alpine_secdb import AlpineSecdbFeed
from service.vulndb.feeds.osv import OSVFeed, parse_osv
from service.vulndb.matcher import Matcher
from service.vulndb.model import PackageRef
from service.vulndb.records import SkipReason
from tests.support.shared import VULNDATA

MIXED = VULNDATA / "osv" / "mixed-ranges"
NPM = VULNDATA / "osv" / "npm"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")


def _mixed_records() -> dict[str, dict[str, Any]]:
    return {p.stem: yaml.safe_load(p.read_text()) for p in sorted(MIXED.glob("*.yaml"))}


def _feed_dir(tmp_path: Path, records: dict[str, dict[str, Any]]) -> Path:
    folder = tmp_path / "feed"
    folder.mkdir(exist_ok=True)
    for name, record in records.items():
        (folder / f"{name}.json").write_text(json.dumps(record, default=str))
    return folder


def _matches(store: VulnStore, ecosystem: str, name: str, version: str) -> set[str]:
    """The ids and aliases of the findings for one package version."""
    ref = PackageRef(name=name, version=version, type="test")
    findings = Matcher(store).match_packages([((ecosystem, name, version), ref)])
    return {i for f in findings for i in (f.id, *f.aliases)}


def _expected_left_out(records: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Computed from the records: entries naming an OSV ecosystem Tollgate has no versions
    for, and entries with neither an ECOSYSTEM/SEMVER range nor a listed version."""
    counts: dict[str, int] = {}
    for record in records.values():
        if record.get("withdrawn"):
            continue
        for affected in record["affected"]:
            if affected["package"]["ecosystem"] not in ("PyPI", "npm"):
                reason = SkipReason.UNSUPPORTED_ECOSYSTEM
            elif not affected.get("versions") and all(
                r["type"] == "GIT" for r in affected.get("ranges", [])
            ):
                reason = SkipReason.NO_VERSION_RANGE
            else:
                continue
            counts[reason.value] = counts.get(reason.value, 0) + 1
    return counts


def test_every_real_record_with_mixed_ranges_is_imported(engine: Engine, tmp_path: Path) -> None:
    records = _mixed_records()
    store = VulnStore(engine)
    result = store.import_feed(OSVFeed("PyPI", str(_feed_dir(tmp_path, records))))
    assert result.skipped == 0
    assert result.added + result.withdrawn == len(records)
    expected = _expected_left_out(records)
    assert expected == {"no version range or version": 1, "unsupported ecosystem": 1}
    assert dict(result.skipped_entries) == expected
    (source,) = store.status().sources
    assert dict(source.skipped_entries) == expected
    # records dropped whole before: their bounds are not PEP 440 (ordered as pip's legacy
    # versions, below every PEP 440 one), or only GIT ranges and versions
    held = store.advisories([("PyPI", "binderhub"), ("PyPI", "steam"), ("PyPI", "pyvex")])
    assert [a.id for a in held[("PyPI", "binderhub")]] == ["PYSEC-2021-371"]  # 0.2.0-n653
    assert [a.id for a in held[("PyPI", "steam")]] == ["PYSEC-2019-125"]  # "2019-09-12"
    assert held[("PyPI", "pyvex")] == ()  # nothing to match a version against
    assert "PYSEC-2019-6" in _matches(store, "PyPI", "buildbot", "0.7.10p1")  # listed pN
    assert "PYSEC-2021-59" in _matches(store, "PyPI", "urllib3", "1.26.3")  # GIT + ECOSYSTEM
    pillow = records["OSV-2022-715"]["affected"][0]["versions"][0]  # GIT range + versions
    assert "OSV-2022-715" in _matches(store, "PyPI", "pillow", pillow)


def test_an_unusable_entry_leaves_the_rest_of_its_record(engine: Engine, tmp_path: Path) -> None:
    record = json.loads((VULNDATA / "osv" / "PyPI" / "PYSEC-2021-59.json").read_text())
    git_only = {
        "ranges": [
            {
                "type": "GIT",
                "repo": "https://github.com/urllib3/urllib3",
                "events": [{"introduced": "0"}, {"fixed": "abc123"}],
            }
        ]
    }
    bad_version = {
        "package": {"ecosystem": "npm", "name": "left-pad"},
        "ranges": [
            {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "not.a.version!"}]}
        ],
    }
    unknown = {"package": {"ecosystem": "Hex", "name": "plug"}, "versions": ["1.0.0"]}
    record["affected"] += [git_only, bad_version, unknown]
    parsed = parse_osv(record)
    assert [a.package for a in parsed.advisories] == ["urllib3"]
    assert [(s.package, s.reason) for s in parsed.skipped] == [
        ("", SkipReason.NO_PACKAGE),
        ("npm/left-pad", SkipReason.UNPARSEABLE_VERSION),
        ("Hex/plug", SkipReason.UNSUPPORTED_ECOSYSTEM),
    ]
    store = VulnStore(engine)
    result = store.import_feed(OSVFeed("PyPI", str(_feed_dir(tmp_path, {"r": record}))))
    assert result.added == 1
    assert dict(result.skipped_entries) == {
        "no package": 1,
        "unparseable version": 1,
        "unsupported ecosystem": 1,
    }
    assert record["id"] in _matches(store, "PyPI", "urllib3", "1.26.3")


def _zip(path: Path, records: list[Path]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for record in records:
            archive.write(record, record.name)
    path.write_bytes(buffer.getvalue())
    return str(path)


def test_records_gone_from_a_complete_feed_leave_matching(engine: Engine, tmp_path: Path) -> None:
    files = sorted(NPM.glob("*.json"))
    lodash = [p for p in files if "lodash" in p.read_text()]
    kept = [p for p in files if p not in lodash]
    store = VulnStore(engine)
    store.import_feed(OSVFeed("npm", _zip(tmp_path / "all.zip", files)))
    assert _matches(store, "npm", "lodash", "4.17.11")
    # a directory holds some records only: importing it removes nothing
    partial = _feed_dir(tmp_path, {p.stem: json.loads(p.read_text()) for p in kept[:1]})
    assert store.import_feed(OSVFeed("npm", str(partial))).withdrawn == 0
    assert _matches(store, "npm", "lodash", "4.17.11")
    # the whole feed (a zip, as OSV publishes it) without them: they are gone
    result = store.import_feed(OSVFeed("npm", _zip(tmp_path / "all.zip", kept)))
    assert result.withdrawn == len(lodash)
    assert _matches(store, "npm", "lodash", "4.17.11") == set()
    (source,) = store.status().sources
    assert source.records == len(kept)


def test_withdrawn_records_leave_matching(engine: Engine, tmp_path: Path) -> None:
    path = next(p for p in sorted(NPM.glob("*.json")) if "lodash" in p.read_text())
    record = json.loads(path.read_text())
    store = VulnStore(engine)
    store.import_feed(OSVFeed("npm", str(_feed_dir(tmp_path, {"r": record}))))
    assert record["id"] in _matches(store, "npm", "lodash", "4.17.11")
    withdrawn = {**record, "modified": "2099-01-01T00:00:00Z", "withdrawn": "2099-01-01T00:00:00Z"}
    result = store.import_feed(OSVFeed("npm", str(_feed_dir(tmp_path, {"r": withdrawn}))))
    assert result.withdrawn == 1
    assert record["id"] not in _matches(store, "npm", "lodash", "4.17.11")


def test_real_alpine_secdb_is_imported_whole(engine: Engine) -> None:
    """apk versions univers refused (``6.6.2p1-r0``, ``4.8.0.-r1``, ``2.7.16-33``) are
    ordered as apk orders them, so no fix of the real secdb is lost."""
    store = VulnStore(engine)
    result = store.import_feed(AlpineSecdbFeed(str(VULNDATA / "alpine" / "secdb-legacy")))
    assert result.skipped == 0
    assert "CVE-2020-7247" in _matches(store, "Alpine:v3.11", "opensmtpd", "6.6.1p1-r1")
    assert "CVE-2020-7247" in _matches(store, "Alpine:v3.11", "opensmtpd", "6.6.2p0-r5")
    assert "CVE-2020-7247" not in _matches(store, "Alpine:v3.11", "opensmtpd", "6.6.2p1-r0")
    assert "CVE-2020-7247" not in _matches(store, "Alpine:v3.11", "opensmtpd", "6.6.4p1-r0")
