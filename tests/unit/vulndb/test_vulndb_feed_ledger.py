"""Re-imports of CVE feeds cost what changed: a document read before is not read again,
and in a document that changed only the records whose stamp changed are parsed (the real
NVD, CVE JSON 5 and KEV records of ../shared/vulndata)."""

from __future__ import annotations

import gzip
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from service.errors import VulnDBError
from service.store.advisories import VulnStore
from service.store.database import make_engine
from service.store.feed_documents import load_ledger
from service.vulndb.cve import CveFacts
from service.vulndb.feeds.base import Unchanged
from service.vulndb.feeds.cve_records import CveRecordsFeed
from service.vulndb.feeds.kev import KEVFeed
from service.vulndb.feeds.ledger import Ledger
from service.vulndb.feeds.nvd import NVDFeed
from service.vulndb.records import SkippedRecord
from tests.unit.vulndb.realdata import VULNDATA

NVD_RECORDS = sorted((VULNDATA / "nvd").glob("CVE-*.json"))
CVE5_DIR = VULNDATA / "cve5"
KEV = VULNDATA / "kev" / "known_exploited_vulnerabilities.json"


def _yearly(path: Path, records: list[dict[str, Any]]) -> None:
    document = {"format": "NVD_CVE", "vulnerabilities": [{"cve": r} for r in records]}
    path.write_bytes(gzip.compress(json.dumps(document).encode()))


def _records() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in NVD_RECORDS]


@pytest.fixture
def store(tmp_path: Path) -> VulnStore:
    return VulnStore(make_engine(f"sqlite:///{tmp_path / 'v.db'}"))


def _ledger(store: VulnStore, feed: NVDFeed | CveRecordsFeed | KEVFeed) -> Ledger:
    with Session(store.engine) as session:
        return load_ledger(session, feed.source, feed.format)


def test_an_unchanged_document_is_not_read_again(store: VulnStore, tmp_path: Path) -> None:
    folder = tmp_path / "nvd"
    folder.mkdir()
    _yearly(folder / "nvdcve-2.0-2022.json.gz", _records())
    first = store.import_feed(NVDFeed(str(folder)))
    ledger = _ledger(store, NVDFeed(str(folder)))
    (known,) = ledger.known.values()
    assert set(known.records) == {p.stem for p in NVD_RECORDS}

    read = list(NVDFeed(str(folder)).records(ledger))
    assert read == [Unchanged(p.stem) for p in NVD_RECORDS]
    again = store.import_feed(NVDFeed(str(folder)))
    assert (again.unchanged, again.changed) == (first.added, False)


def test_in_a_changed_document_only_changed_records_are_parsed(
    store: VulnStore, tmp_path: Path
) -> None:
    folder = tmp_path / "nvd"
    folder.mkdir()
    records = _records()
    _yearly(folder / "nvdcve-2.0-2022.json.gz", records)
    store.import_feed(NVDFeed(str(folder)))
    pillow = next(r for r in records if r["id"] == "CVE-2022-22817")
    pillow["metrics"].pop("cvssMetricV31")
    pillow["lastModified"] = "2099-01-01T00:00:00.000"
    _yearly(folder / "nvdcve-2.0-2022.json.gz", records)

    read = list(NVDFeed(str(folder)).records(_ledger(store, NVDFeed(str(folder)))))
    parsed = [r for r in read if isinstance(r, CveFacts)]
    assert [f.id for f in parsed] == ["CVE-2022-22817"]
    assert len(read) == len(records) and all(
        isinstance(r, Unchanged) for r in read if r != parsed[0]
    )
    result = store.import_feed(NVDFeed(str(folder)))
    assert (result.updated, result.unchanged) == (1, len(records) - 1)
    (facts,) = store.cve_facts(["CVE-2022-22817"]).values()
    assert facts.assessments[0].v3 is None


def test_a_new_feed_format_reads_every_document_again(store: VulnStore) -> None:
    class ReworkedNVD(NVDFeed):
        format = NVDFeed.format + 1

    store.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    reworked = ReworkedNVD(str(VULNDATA / "nvd"))
    assert _ledger(store, reworked).known == {}
    read = list(reworked.records(_ledger(store, reworked)))
    assert all(isinstance(r, CveFacts) for r in read) and len(read) == len(NVD_RECORDS)
    result = store.import_feed(reworked)
    assert (result.unchanged, result.changed) == (len(NVD_RECORDS), False)
    assert len(_ledger(store, reworked).known) == len(NVD_RECORDS)


def test_unchanged_members_of_a_zip_are_not_decompressed(store: VulnStore, tmp_path: Path) -> None:
    archive = tmp_path / "cvelistV5-main.zip"
    paths = sorted(CVE5_DIR.glob("CVE-*.json"))
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in paths:
            zipped.write(path, f"cvelistV5-main/cves/{path.name}")
    first = store.import_feed(CveRecordsFeed(str(archive)))
    assert first.added == len(paths)

    changed = json.loads(paths[0].read_text())
    changed["cveMetadata"]["dateUpdated"] = "2099-01-01T00:00:00.000Z"
    changed["containers"]["cna"]["metrics"] = [
        {
            "cvssV3_1": {
                "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                "baseScore": 9.8,
            }
        }
    ]
    rewritten = tmp_path / "rewritten.zip"
    with zipfile.ZipFile(archive) as old, zipfile.ZipFile(rewritten, "w") as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename.endswith(paths[0].name):
                data = json.dumps(changed).encode()
            new.writestr(info, data)
    ledger = _ledger(store, CveRecordsFeed(str(rewritten)))
    read = list(CveRecordsFeed(str(rewritten)).records(ledger))
    assert [r.id for r in read if isinstance(r, CveFacts)] == [paths[0].stem]
    result = store.import_feed(CveRecordsFeed(str(rewritten)))
    assert (result.updated, result.unchanged) == (1, len(paths) - 1)


def test_a_corrupt_zip_member_fails_the_import_and_keeps_the_data(
    store: VulnStore, tmp_path: Path
) -> None:
    archive = tmp_path / "cves.zip"
    path = sorted(CVE5_DIR.glob("CVE-*.json"))[0]
    with zipfile.ZipFile(archive, "w") as zipped:  # stored: the member's bytes are as written
        zipped.write(path, path.name)
    data = archive.read_bytes()
    text = path.read_bytes()
    at = data.index(text) + len(text) // 2
    archive.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :])
    with pytest.raises(VulnDBError):
        store.import_feed(CveRecordsFeed(str(archive)))
    assert store.status().sources == ()


def test_an_unchanged_complete_catalog_keeps_every_entry(store: VulnStore) -> None:
    entries = len(json.loads(KEV.read_text())["vulnerabilities"])
    first = store.import_feed(KEVFeed(str(KEV)))
    again = store.import_feed(KEVFeed(str(KEV)))
    assert (first.added, again.unchanged, again.withdrawn) == (entries, entries, 0)
    (status,) = store.status().sources
    assert status.records == entries


def test_records_a_document_could_not_use_are_reported_again(
    store: VulnStore, tmp_path: Path
) -> None:
    records: list[Any] = _records()[:2]
    records.insert(1, {"id": 42})
    _yearly(tmp_path / "nvdcve-2.0-2022.json.gz", records)
    first = store.import_feed(NVDFeed(str(tmp_path)))
    ledger = _ledger(store, NVDFeed(str(tmp_path)))
    again = list(NVDFeed(str(tmp_path)).records(ledger))
    assert [type(r) for r in again] == [Unchanged, Unchanged, SkippedRecord]
    assert store.import_feed(NVDFeed(str(tmp_path))).skipped == first.skipped == 1


def test_a_copied_folder_is_the_same_documents(store: VulnStore, tmp_path: Path) -> None:
    shutil.copytree(VULNDATA / "nvd", tmp_path / "nvd")
    store.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    read = list(NVDFeed(str(tmp_path / "nvd")).records(_ledger(store, NVDFeed(""))))
    assert {type(r) for r in read} == {Unchanged}


def test_a_corrupt_gzip_document_fails_the_import(store: VulnStore, tmp_path: Path) -> None:
    store.import_feed(NVDFeed(str(VULNDATA / "nvd")))
    compressed = gzip.compress(json.dumps({"vulnerabilities": []}).encode())
    for broken in (compressed[: len(compressed) // 2], compressed[:10] + b"\xff" * 40):
        (tmp_path / "nvdcve-2.0-2022.json.gz").write_bytes(broken)
        with pytest.raises(VulnDBError):
            store.import_feed(NVDFeed(str(tmp_path)))
    (status,) = store.status().sources
    assert status.records == len(NVD_RECORDS)
