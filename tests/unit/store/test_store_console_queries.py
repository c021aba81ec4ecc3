"""What the console asks the stores: image filters and orders in SQL, fleet totals, one
vulnerability's spread and findings, images by package, scans by state, aliases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from policies.subject import SignatureStatus
from service.catalog.model import Catalog, Distro, ImageSubject, Package, PackageType
from service.store.admissions import AdmissionEvent, AdmissionLog
from service.store.advisories import VulnStore
from service.store.catalogs import CatalogStore
from service.store.images import ImageFilter, ImageSort, ImageStore, ImageSubjectInfo, VulnOrder
from service.store.scans import ScanRequest, ScanStatus, ScanStore
from service.vulndb.ecosystems import matchable
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.model import (
    ExploitPrediction,
    Finding,
    KnownExploited,
    PackageRef,
    Severity,
)
from tests.support.postgres import BACKENDS, store_engine

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with store_engine(request.param, tmp_path, "tollgate_console") as engine:
        yield engine


def finding(vuln_id: str, severity: Severity, package: str = "openssl") -> Finding:
    ref = PackageRef(name=package, version="1", type="deb", purl=f"pkg:deb/debian/{package}@1")
    return Finding(id=vuln_id, severity=severity, package=ref, source="t", fix_available=True)


def record(
    images: ImageStore, n: int, reference: str, findings: list[Finding], **kwargs: Any
) -> str:
    digest = f"sha256:{n:064x}"
    registry, _, rest = reference.partition("/")
    subject = ImageSubjectInfo(digest, reference, registry, rest.split(":")[0], "linux/amd64", 3)
    images.record(subject, findings, scan_id=None, now=NOW + timedelta(minutes=n), **kwargs)
    return digest


def test_image_filters_and_orders(engine: Engine) -> None:
    images = ImageStore(engine)
    critical = finding("CVE-1", Severity.CRITICAL)
    a = record(images, 1, "reg.one/team/a:1.0", [critical], policy_outcome="block")
    b = record(
        images,
        2,
        "reg.one/team/b:2.0",
        [finding("CVE-2", Severity.HIGH), finding("CVE-3", Severity.HIGH)],
        policy_outcome="warn",
        signatures=SignatureStatus(signed_by=("ci",)),
    )
    c = record(images, 3, "reg.two/team/a:1.0@sha256:" + "c" * 64, [], policy_outcome="pass")

    def digests(where: ImageFilter, sort: ImageSort = ImageSort.SCANNED) -> list[str]:
        items, total = images.page(where, limit=10, offset=0, sort=sort)
        assert total == len(items)
        return [i.digest for i in items]

    assert digests(ImageFilter()) == [c, b, a]  # most recently scanned first
    assert digests(ImageFilter(), ImageSort.RISK) == [a, b, c]
    assert digests(ImageFilter(), ImageSort.REFERENCE) == [a, b, c]
    assert digests(ImageFilter(registry="reg.one")) == [b, a]
    assert digests(ImageFilter(tag="1.0")) == [c, a]  # with and without a digest after it
    assert digests(ImageFilter(tag="%")) == []  # LIKE wildcards are literal
    assert digests(ImageFilter(vulnerability="CVE-2")) == [b]
    assert digests(ImageFilter(signed=True)) == [b]
    assert digests(ImageFilter(signed=False)) == [c, a]
    assert digests(ImageFilter(min_severity=Severity.HIGH, policy_outcome="warn")) == [b]
    assert images.page(ImageFilter(), limit=1, offset=1)[0][0].digest == b
    # the total is of every matching image, on a partial page and past the last one
    assert [(len(items), total) for items, total in (
        images.page(ImageFilter(), limit=2, offset=2),
        images.page(ImageFilter(), limit=2, offset=5),
        images.page(ImageFilter(registry="nowhere"), limit=2, offset=0),
    )] == [(1, 3), (0, 3), (0, 0)]  # fmt: skip

    totals = images.totals()
    assert totals.scan_states == {"scanned": 3, "failed": 0}
    assert totals.policy == {"block": 1, "warn": 1, "pass": 1}
    spread = images.spread("CVE-2")
    assert spread is not None and (spread.severity, spread.affected_images) == ("high", 1)
    assert images.spread("CVE-404") is None
    assert set(images.summaries([a, "sha256:unknown"])) == {a}


def test_findings_of_one_vulnerability_and_images_by_package(engine: Engine) -> None:
    catalogs = CatalogStore(engine)
    for n, names in enumerate((("openssl", "zlib"), ("zlib",))):
        digest = f"sha256:{n:064x}"
        packages = tuple(
            Package(name=p, version="1", type=PackageType.DEB, purl=f"pkg:deb/debian/{p}@1")
            for p in names
        )
        catalog = Catalog(
            image=ImageSubject(reference=f"r/{n}", digest=digest, platform="linux/amd64"),
            distro=Distro(id="debian", version_id="12"),  # packages of an ecosystem
            packages=packages,
            engine="t",
            engine_version="1",
        )
        catalogs.save(catalog, matchable(catalog))
        catalogs.record_findings(
            {digest: [finding("CVE-9", Severity.LOW, p) for p in names]}, db_revision=1
        )
    first, second = f"sha256:{0:064x}", f"sha256:{1:064x}"
    found = catalogs.findings_of("CVE-9", [first, second, "sha256:none"])
    assert {d: [f.package.name for f in fs] for d, fs in found.items()} == {
        first: ["openssl", "zlib"],
        second: ["zlib"],
    }
    assert set(catalogs.holding_package("zlib", 10)) == {first, second}
    assert set(catalogs.holding_package("pkg:deb/debian/openssl", 10)) == {first}
    assert set(catalogs.holding_package("pkg:deb/debian/openssl@1", 10)) == {first}
    assert set(catalogs.holding_package("pkg:deb/debian/openssl@2", 10)) == set()
    assert len(catalogs.holding_package("zlib", 1)) == 1


def test_recent_scans_by_state(engine: Engine) -> None:
    scans = ScanStore(engine)
    for n in range(3):
        request = ScanRequest(f"reg/app:{n}", None, None, "api", "push", "syft", "1", 1)
        scans.submit(request, now=NOW + timedelta(minutes=n))
    queued = scans.recent(status=ScanStatus.QUEUED, limit=2)
    assert [s.reference for s in queued] == ["reg/app:2", "reg/app:1"]
    assert scans.recent(status=ScanStatus.FAILED, limit=10) == []


def test_aliases_of_a_record_and_of_an_alias(engine: Engine, tmp_path: Path) -> None:
    record_ = {
        "id": "GHSA-aaaa-bbbb-cccc",
        "modified": "2026-01-01T00:00:00Z",
        "aliases": ["CVE-2026-0001"],
        "affected": [
            {
                "package": {"ecosystem": "PyPI", "name": "demo"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
            }
        ],
    }
    (tmp_path / "osv").mkdir()
    (tmp_path / "osv" / "GHSA.json").write_text(json.dumps(record_))
    vulns = VulnStore(engine)
    vulns.import_feed(OSVFeed("PyPI", str(tmp_path / "osv")))
    assert vulns.aliases("GHSA-aaaa-bbbb-cccc") == {"CVE-2026-0001"}
    assert vulns.aliases("CVE-2026-0001") == {"GHSA-aaaa-bbbb-cccc"}
    assert vulns.aliases("CVE-2026-9999") == set()


def test_exploitation_signals_filter_and_order_images_and_vulnerabilities(engine: Engine) -> None:
    images = ImageStore(engine)
    kev = KnownExploited(date_added=date(2024, 5, 1), ransomware=True)
    listed = finding("CVE-9", Severity.LOW).model_copy(update={"kev": kev})
    likely = finding("CVE-8", Severity.MEDIUM, "curl").model_copy(
        update={"epss": ExploitPrediction(score=0.9, percentile=0.99)}
    )
    unlikely = finding("CVE-7", Severity.CRITICAL, "zlib").model_copy(
        update={"epss": ExploitPrediction(score=0.01, percentile=0.2)}
    )
    a = record(images, 1, "reg/team/a:1", [listed, likely])
    b = record(images, 2, "reg/team/b:1", [unlikely])
    c = record(images, 3, "reg/team/c:1", [finding("CVE-6", Severity.HIGH)])

    def digests(where: ImageFilter, sort: ImageSort = ImageSort.SCANNED) -> list[str]:
        return [i.digest for i in images.page(where, limit=10, offset=0, sort=sort)[0]]

    assert digests(ImageFilter(known_exploited=True)) == [a]
    assert digests(ImageFilter(known_exploited=False)) == [c, b]
    assert digests(ImageFilter(), ImageSort.KEV) == [a, b, c]  # then by risk
    assert digests(ImageFilter(), ImageSort.EPSS) == [a, b, c]  # no score last
    assert images.get(a).known_exploited == 1 and images.get(a).max_epss == 0.9
    assert images.totals().known_exploited == 1

    def top(order: VulnOrder) -> list[str]:
        return [v.vuln_id for v in images.top_vulnerabilities(2, order)]

    assert top(VulnOrder.KEV)[0] == "CVE-9" and top(VulnOrder.EPSS) == ["CVE-8", "CVE-7"]
    # A feed listing CVE-7 later: the next record of any image holding it says so.
    record(images, 2, "reg/team/b:1", [unlikely.model_copy(update={"kev": kev})])
    spread = images.spread("CVE-7")
    assert spread is not None and spread.known_exploited and spread.affected_images == 1
    assert images.totals().known_exploited == 2


def test_the_admission_log_by_vulnerability_newest_first(engine: Engine) -> None:
    images = ImageStore(engine)
    holding = record(images, 1, "reg/team/a:1", [finding("CVE-1", Severity.HIGH)])
    clean = record(images, 2, "reg/team/b:1", [])
    log = AdmissionLog(engine)

    def event(minute: int, digest: str | None, name: str) -> AdmissionEvent:
        at = NOW + timedelta(minutes=minute)
        return AdmissionEvent(at, "u", "CREATE", "ns", "Pod", name, "img", digest, "warn", True)

    log.record([event(1, holding, "first"), event(2, clean, "clean"), event(3, None, "unresolved")])
    log.record([event(4, holding, "second")])
    assert [e.name for e in log.of_vulnerability("CVE-1", 10)] == ["second", "first"]
    assert [e.name for e in log.recent(2)] == ["second", "unresolved"]
    assert log.recent(1)[0].created_at == NOW + timedelta(minutes=4)  # in UTC
