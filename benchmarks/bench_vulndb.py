"""Vulnerability DB benchmarks on the real data in ../shared/vulndata (prints numbers).

PYTHONPATH=. .venv/bin/python benchmarks/bench_vulndb.py [--catalogs 1000] [--db URL]
    [--cve-records 300000] [--cve5-records 50000]

Matching runs with the CVE feeds' enrichment on (the real NVD and CVE JSON 5 records);
the CVE import benchmark imports NVD yearly feed files generated from the real records
(ids varied, everything else as NVD publishes it), then re-imports them unchanged and with
1% changed; then the same for CVE JSON 5 records in a zip laid out as cvelistV5's.
"""

from __future__ import annotations

import argparse
import bisect
import gzip
import json
import logging
import random
import statistics
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import Engine

from policies.model import Action, Bundle, EpssRule
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.gate import DEFAULT_BUNDLE, shipped_bundle
from service.pipeline import Pipeline
from service.registry.outbound import OutboundPolicy
from service.rematch import reevaluate
from service.settings import Settings
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.database import make_engine
from service.store.images import ImageStore, ImageSubjectInfo
from service.store.policies import PolicyStore
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.base import CveFeed
from service.vulndb.feeds.cve_records import CveRecordsFeed
from service.vulndb.feeds.epss import EPSSFeed
from service.vulndb.feeds.nvd import NVDFeed
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.matcher import match
from service.wiring import components
from tests.support.shared import VULNDATA

TYPES = {"PyPI": PackageType.PYTHON, "Go": PackageType.GO}
CRITICAL_V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


def package_pool() -> list[Package]:
    """Real (name, version) pairs named by the advisories, plus their fixed versions."""
    pool: dict[tuple[str, str], Package] = {}
    for ecosystem in ("PyPI", "Go"):
        for path in sorted((VULNDATA / "osv" / ecosystem).glob("*.json")):
            for affected in json.loads(path.read_text()).get("affected", []):
                name = affected["package"]["name"]
                versions = list(affected.get("versions", []))[:3]
                for rng in (r for r in affected.get("ranges", []) if r["type"] != "GIT"):
                    versions += [v for e in rng["events"] for v in e.values() if v != "0"][:2]
                for version in versions:
                    pool[(name, version)] = Package(
                        name=name, version=version, type=TYPES[ecosystem]
                    )
    return list(pool.values())


def clean_pool(size: int) -> list[Package]:
    """Packages no advisory names (most packages of a real image)."""
    return [
        Package(
            name=f"bench-clean-{i}",
            version=f"1.{i % 7}.{i % 11}",
            type=PackageType.PYTHON if i % 2 else PackageType.GO,
        )
        for i in range(size)
    ]


def small_update(folder: Path, records: int, skip: int = 0) -> OSVFeed:
    """``records`` real PyPI records, modified later, each listing one more affected version
    (its first fix): the kind of change a feed's daily update brings."""
    folder.mkdir()
    for path in sorted((VULNDATA / "osv" / "PyPI").glob("*.json"))[skip : skip + records]:
        record = json.loads(path.read_text())
        affected = record["affected"][0]
        ranges = affected.get("ranges", [])
        fixes = [e["fixed"] for r in ranges for e in r["events"] if "fixed" in e]
        affected["versions"] = [*affected.get("versions", []), *fixes[:1]]
        record["modified"] = "2099-01-01T00:00:00Z"
        (folder / path.name).write_text(json.dumps(record))
    return OSVFeed("PyPI", str(folder))


def nvd_yearly_files(
    folder: Path,
    numbers: range | list[int],
    *,
    changed: frozenset[int] = frozenset(),
    per_file: int = 10_000,
) -> None:
    """NVD records ``numbers`` in gzip yearly-feed files: the real records first, then
    copies of them under new ids. Records numbered in ``changed`` are modified later (a
    new CVSS v2 metric), as NVD's re-analysis of a CVE changes it."""
    real = [json.loads(p.read_text()) for p in sorted((VULNDATA / "nvd").glob("CVE-*.json"))]
    data = {"version": "2.0", "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C", "baseScore": 10.0}
    v2 = {"source": "nvd@nist.gov", "type": "Primary", "cvssData": data}
    folder.mkdir()
    for first in range(0, len(numbers), per_file):
        items = []
        for number in numbers[first : first + per_file]:
            record = dict(real[number % len(real)])
            if number >= len(real):
                record["id"] = f"CVE-{1990 + number // 1_000_000}-{1_000_000 + number}"
            if number in changed:
                record["lastModified"] = "2099-01-01T00:00:00.000"
                record["metrics"] = {**record["metrics"], "cvssMetricV2": [v2]}
            items.append({"cve": record})
        document = {"format": "NVD_CVE", "version": "2.0", "vulnerabilities": items}
        path = folder / f"nvdcve-2.0-{first // per_file:03d}.json.gz"
        path.write_bytes(gzip.compress(json.dumps(document).encode(), compresslevel=1))


def bench_cve_import(db: VulnStore, tmp: Path, count: int) -> None:
    """Import ``count`` NVD records; again unchanged; again with 1% changed; then NVD's
    modified-records feed holding only another 1%, changed."""
    rng = random.Random(7)
    changed = frozenset(rng.sample(range(count), count // 100))
    later = frozenset(rng.sample(sorted(set(range(count)) - changed), count // 100))
    nvd_yearly_files(tmp / "nvd-all", range(count))
    nvd_yearly_files(tmp / "nvd-changed", range(count), changed=changed)
    nvd_yearly_files(tmp / "nvd-modified", sorted(later), changed=later)
    for label, folder in (
        ("import", "nvd-all"),
        ("re-import, unchanged", "nvd-all"),
        (f"re-import, {len(changed)} changed", "nvd-changed"),
        (f"modified feed of {len(later)} changed", "nvd-modified"),
    ):
        _timed_import(db, f"NVD {label}", NVDFeed(str(tmp / folder)))


def epss_scores(rng: random.Random, previous: dict[str, float] | None = None) -> dict[str, float]:
    """An EPSS score for every CVE the PyPI and Go advisories name: random (most near 0, as
    EPSS's are), or ``previous`` drifted by a few percent each, as a day changes them."""
    if previous is not None:
        return {cve: min(1.0, score * rng.uniform(0.95, 1.05)) for cve, score in previous.items()}
    cves = {
        name
        for ecosystem in ("PyPI", "Go")
        for record in (VULNDATA / "osv" / ecosystem).glob("*.json")
        for name in json.loads(record.read_text()).get("aliases", [])
        if name.startswith("CVE-")
    }
    return {cve: rng.random() ** 4 for cve in sorted(cves)}


def epss_csv(path: Path, scores: dict[str, float]) -> Path:
    """FIRST's daily CSV of ``scores``, with their percentiles."""
    ranked = sorted(scores.values())
    rows = [
        f"{cve},{score:.5f},{bisect.bisect_right(ranked, score) / len(ranked):.5f}"
        for cve, score in sorted(scores.items())
    ]
    path.write_text("#model_version:v2025.03.14\ncve,epss,percentile\n" + "\n".join(rows) + "\n")
    return path


def cve_records_zip(path: Path, numbers: range, *, changed: frozenset[int] = frozenset()) -> None:
    """CVE JSON 5 records ``numbers`` in one zip laid out as the cvelistV5 repository's:
    the real records, then copies of them under new ids; those in ``changed`` updated
    later with a CNA CVSS metric added."""
    real = [json.loads(p.read_text()) for p in sorted((VULNDATA / "cve5").glob("CVE-*.json"))]
    metric = {"cvssV3_1": {"vectorString": CRITICAL_V3, "baseScore": 9.8}}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for number in numbers:
            record = real[number % len(real)]
            cve = record["cveMetadata"]["cveId"]
            if number >= len(real) or number in changed:
                record = json.loads(json.dumps(record))
                if number >= len(real):
                    cve = f"CVE-{1990 + number // 1_000_000}-{1_000_000 + number}"
                    record["cveMetadata"]["cveId"] = cve
                if number in changed:
                    record["cveMetadata"]["dateUpdated"] = "2099-01-01T00:00:00.000Z"
                    cna = record["containers"]["cna"]
                    cna["metrics"] = [*cna.get("metrics", []), metric]
            name = f"cvelistV5-main/cves/{cve[4:8]}/{cve[9:-3]}xxx/{cve}.json"
            archive.writestr(name, json.dumps(record))


def bench_cve_records_import(db: VulnStore, tmp: Path, count: int) -> None:
    """Import ``count`` CVE JSON 5 records from a zip; again unchanged; again with 1%
    changed."""
    changed = frozenset(random.Random(11).sample(range(count), count // 100))
    cve_records_zip(tmp / "cves.zip", range(count))
    cve_records_zip(tmp / "cves-changed.zip", range(count), changed=changed)
    for label, archive in (
        ("import", "cves.zip"),
        ("re-import, unchanged", "cves.zip"),
        (f"re-import, {len(changed)} changed", "cves-changed.zip"),
    ):
        _timed_import(db, f"CVE JSON 5 {label}", CveRecordsFeed(str(tmp / archive)))


def _timed_import(db: VulnStore, label: str, feed: CveFeed) -> None:
    before = db.revision()
    start, cpu = time.perf_counter(), time.process_time()
    result = db.import_feed(feed)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    touched = len(db.changed_packages(before) or ())
    print(
        f"{label}: {elapsed:.2f} s ({cpu:.2f} s CPU; {result.added} added, {result.updated} "
        f"updated, {result.unchanged} unchanged; {touched} packages to re-match)"
    )


def catalog(packages: list[Package], index: int) -> Catalog:
    unique = {p.key: p for p in packages}
    return Catalog(
        image=ImageSubject(
            reference=f"bench.test/app:{index}",
            digest=f"sha256:{index:064x}",
            platform="linux/amd64",
        ),
        packages=tuple(sorted(unique.values(), key=lambda p: p.key)),
        engine="bench",
        engine_version="0",
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--catalogs", type=int, default=1000)
    parser.add_argument(
        "--packages",
        type=int,
        default=500,
        help="packages in the matched catalog (1/5 named by advisories)",
    )
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    parser.add_argument(
        "--cve-records", type=int, default=300_000, help="NVD records to import (0: skip)"
    )
    parser.add_argument(
        "--cve5-records",
        type=int,
        default=50_000,
        help="CVE JSON 5 records to import from a zip (0: skip)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.db or f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
        db = VulnStore(engine)
        start = time.perf_counter()
        results = [db.import_feed(OSVFeed(e, str(VULNDATA / "osv" / e))) for e in ("PyPI", "Go")]
        records = sum(r.added + r.withdrawn for r in results)
        print(f"import PyPI+Go: {records} records in {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        db.import_feed(OSVFeed("PyPI", str(VULNDATA / "osv" / "PyPI")))
        print(f"re-import PyPI (unchanged): {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        db.import_feed(NVDFeed(str(VULNDATA / "nvd")))
        db.import_feed(CveRecordsFeed(str(VULNDATA / "cve5")))
        print(f"import the real NVD + CVE records: {time.perf_counter() - start:.2f} s")

        logging.disable(logging.WARNING)  # unparseable versions in the pool are logged
        rng = random.Random(42)
        pool, clean = package_pool(), clean_pool(5000)
        vulnerable = rng.sample(pool, args.packages // 5)
        big = catalog(vulnerable + rng.sample(clean, args.packages - len(vulnerable)), 0)
        start = time.perf_counter()
        findings = match(big, db)
        cold = (time.perf_counter() - start) * 1e3
        print(f"match {len(big.packages)} packages, cold: {cold:.1f} ms ({len(findings)} findings)")
        warm = []
        for _ in range(20):
            start = time.perf_counter()
            match(big, db)
            warm.append(time.perf_counter() - start)
        print(
            f"match {len(big.packages)} packages, warm: median {statistics.median(warm) * 1e3:.1f}"
            f" ms, max {max(warm) * 1e3:.1f} ms"
        )

        catalogs = CatalogStore(engine)
        for index in range(1, args.catalogs + 1):
            size = rng.randint(50, 400)
            made = catalog(rng.sample(pool, size // 5) + rng.sample(clean, size), index)
            catalogs.save(made, matchable(made))
        start = time.perf_counter()
        first = reevaluate(catalogs, db)
        print(
            f"re-evaluate {first.images} catalogs (first, all findings new): "
            f"{time.perf_counter() - start:.2f} s"
        )
        db.import_feed(OSVFeed("PyPI", str(VULNDATA / "osv" / "PyPI-GHSA")))
        fresh = VulnStore(engine)  # a new process after `db update`: empty caches
        start = time.perf_counter()
        second = reevaluate(catalogs, fresh)
        print(
            f"re-evaluate {second.images} catalogs after an update (cold cache): "
            f"{time.perf_counter() - start:.2f} s, {second.images_gained} gained, "
            f"{second.images_lost} lost, {second.rematched} re-matched"
        )
        before = fresh.revision()
        fresh.import_feed(small_update(Path(tmp) / "small-update", records=5))
        changed = fresh.changed_packages(before) or set()
        start = time.perf_counter()
        third = reevaluate(catalogs, VulnStore(engine))
        print(
            f"re-evaluate {third.images} catalogs after a small update ({len(changed)} packages "
            f"changed): {time.perf_counter() - start:.2f} s, {third.rematched} re-matched, "
            f"{third.images_gained} gained, {third.images_lost} lost"
        )
        _redecide_after_update(engine, catalogs, Path(tmp))
        if args.cve_records:
            bench_cve_import(db, Path(tmp), args.cve_records)
        if args.cve5_records:
            bench_cve_records_import(db, Path(tmp), args.cve5_records)


def _redecide_after_update(engine: Engine, catalogs: CatalogStore, tmp: Path) -> None:
    """What the service does after an update: re-match, then decide again (default bundle,
    decision recorded, image row updated) on every stored image whose findings changed."""
    images = ImageStore(engine)
    for number, digest in enumerate(catalogs.digests()):
        subject = ImageSubjectInfo(
            digest=digest,
            reference=f"bench.example/app:{number}",
            registry="bench.example",
            repository="app",
            platform="linux/amd64",
            packages=0,
        )
        images.record(subject, catalogs.findings(digest), scan_id=None)
    settings = Settings(data_dir=tmp / "service")
    built = components(settings, engine, outbound=OutboundPolicy.unrestricted())
    try:
        built.vulns.import_feed(small_update(tmp / "second-update", records=5, skip=5))
        _timed_rematch(built.pipeline, "a small update")
        rng = random.Random(5)
        scores = epss_scores(rng)
        built.vulns.import_feed(EPSSFeed(str(epss_csv(tmp / "epss-1.csv", scores))))
        _timed_rematch(built.pipeline, "the first EPSS import")
        scores = epss_scores(rng, scores)
        built.vulns.import_feed(EPSSFeed(str(epss_csv(tmp / "epss-2.csv", scores))))
        _timed_rematch(built.pipeline, "an EPSS day")
        PolicyStore(engine).apply(_with_epss_rule(), author="bench", now=datetime.now(UTC))
        scores = epss_scores(rng, scores)
        built.vulns.import_feed(EPSSFeed(str(epss_csv(tmp / "epss-3.csv", scores))))
        _timed_rematch(built.pipeline, "an EPSS day, a rule on EPSS >= 0.5")
    finally:
        built.close()


def _with_epss_rule() -> Bundle:
    """The default bundle, its policy blocking findings with an EPSS score of 0.5 or more."""
    shipped = shipped_bundle(DEFAULT_BUNDLE)
    assert shipped is not None
    rule = EpssRule(id="likely-exploited", type="epss", action=Action.BLOCK, min_score=0.5)
    policies = tuple(p.model_copy(update={"rules": (*p.rules, rule)}) for p in shipped.policies)
    return shipped.model_copy(update={"policies": policies})


def _timed_rematch(pipeline: Pipeline, update: str) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    rematched = pipeline.rematch()
    result = rematched.reevaluation
    assert result is not None
    print(
        f"re-evaluate {result.images} images through the pipeline after {update}: "
        f"{time.perf_counter() - start:.2f} s ({time.process_time() - cpu:.2f} s CPU), "
        f"{result.rematched} re-matched, {len(result.diffs)} with changed findings, "
        f"{rematched.redecided} decided again"
    )


if __name__ == "__main__":
    main()
