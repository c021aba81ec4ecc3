"""Console page server time at fleet scale: prints p50/p99 per page, asserts p50 < 100 ms.

10,000 images with ~200,000 image findings and their scans (``bench_service.seed``), one
vulnerability in 20 known-exploited and EPSS scores for all, 20,000 admission events, the
default policy bundle, and for ``--detailed`` images a stored catalog (30 packages) with
their findings stored through ``CatalogStore`` (image, vulnerability and search pages
read those). The real API (uvicorn on 127.0.0.1) serves the console; a signed-in client
times each page over HTTP, ``--repeat`` times.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_console [--seed-images 10000]
        [--detailed 300] [--repeat 50] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import bindparam, func, insert, text, update
from sqlalchemy import select as sql_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from benchmarks.bench_service import seed, service
from benchmarks.timing import median, percentile
from policies.decision import Decision, Outcome, RuleResult
from policies.loader import load_bundle
from policies.model import Action
from service.auth.tokens import Scope, TokenAuthority
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.settings import Settings
from service.store.admissions import AdmissionEvent, AdmissionLog
from service.store.catalogs import CatalogStore
from service.store.database import make_engine, table_of
from service.store.images import ImageRow, ImageVulnRow, VulnSummaryRow
from service.store.policies import DecisionRecord, PolicyStore
from service.store.tokens import TokenStore
from service.vulndb.ecosystems import matchable
from service.vulndb.model import Finding, PackageRef, Severity

BUDGET_S = 0.100  # every page's p50 must stay under it; a p99 over it is reported
BUNDLE = Path(__file__).resolve().parents[1] / "policies" / "bundles" / "default.yaml"


def detail(engine: Engine, images: int) -> list[str]:
    """Catalogs and findings of the first ``images`` seeded images; returns their digests."""
    catalogs = CatalogStore(engine)
    digests = [f"sha256:{n:064x}" for n in range(images)]
    with Session(engine) as session:
        rows = session.exec(select(ImageVulnRow).where(col(ImageVulnRow.digest).in_(digests))).all()
    vulns: dict[str, list[ImageVulnRow]] = {d: [] for d in digests}
    for row in rows:
        vulns[row.digest].append(row)
    results: dict[str, list[Finding]] = {}
    for n, digest in enumerate(digests):
        packages = tuple(
            Package(
                name=f"lib{i}",
                version="1.0",
                type=PackageType.DEB,
                purl=f"pkg:deb/debian/lib{i}@1.0?distro=debian-12",
            )
            for i in range(30)
        )
        subject = ImageSubject(
            reference=f"registry.example/team{n % 40}/app{n % 400}@{digest}",
            digest=digest,
            platform="linux/amd64",
        )
        catalog = Catalog(image=subject, packages=packages, engine="syft", engine_version="1")
        catalogs.save(catalog, matchable(catalog))
        results[digest] = [
            Finding(
                id=row.vuln_id,
                severity=Severity(row.severity),
                package=PackageRef(
                    name=packages[i % 30].name,
                    version="1.0",
                    type="deb",
                    purl=packages[i % 30].purl,
                ),
                fixed_versions=("1.1",) if row.fixable else (),
                fix_available=row.fixable,
                source="bench",
            )
            for i, row in enumerate(vulns[digest])
        ]
    catalogs.record_findings(results, db_revision=1)
    return digests


def decisions(engine: Engine) -> int:
    """One recorded decision per seeded image (its outcome, the time of its scan)."""
    with Session(engine) as session:
        images = session.exec(select(ImageRow)).all()
    rows = []
    for image in images:
        outcome = Outcome(image.policy_outcome or "pass")
        decision = Decision(
            outcome=outcome,
            image=image.reference,
            digest=image.digest,
            bundle="default",
            bundle_version=1,
            policy="default",
            evaluated_at=image.scanned_at,
            rule_results=(
                RuleResult(
                    rule_id="critical-fixable",
                    type="severity_gate",
                    action=Action.BLOCK,
                    fired=outcome is Outcome.BLOCK,
                    expected="at most 0 finding(s) with severity >= critical",
                    actual=f"{image.critical} matching finding(s)",
                    message="",
                ),
            ),
        )
        rows.append(
            {
                "digest": image.digest,
                "reference": image.reference,
                "bundle": "default",
                "bundle_version": 1,
                "policy": "default",
                "outcome": outcome.value,
                "created_at": image.scanned_at,
                "results": decision.model_dump_json(),
            }
        )
    with engine.begin() as connection:
        connection.execute(insert(DecisionRecord), rows)
    return len(rows)


def exploitation(engine: Engine, rng: random.Random) -> int:
    """One vulnerability in 20 known-exploited, an EPSS score for every one, and each
    image's counts to match (as ``ImageStore.record`` keeps them); returns how many KEV."""
    with Session(engine) as session:
        vuln_ids = list(session.exec(select(col(VulnSummaryRow.vuln_id))))
    rows = [
        {"id": vuln_id, "kev": rng.random() < 0.05, "epss": round(rng.random() ** 4, 5)}
        for vuln_id in vuln_ids
    ]
    summary = table_of(VulnSummaryRow)
    image, held = table_of(ImageRow), table_of(ImageVulnRow)
    facts = summary.join(held, held.c.vuln_id == summary.c.vuln_id)
    mine = held.c.digest == image.c.digest
    with engine.begin() as connection:
        connection.execute(
            update(summary)
            .where(summary.c.vuln_id == bindparam("id"))
            .values(known_exploited=bindparam("kev"), epss=bindparam("epss")),
            rows,
        )
        connection.execute(
            update(image).values(
                known_exploited=sql_select(func.count())
                .select_from(facts)
                .where(mine, summary.c.known_exploited)
                .scalar_subquery(),
                max_epss=sql_select(func.max(summary.c.epss))
                .select_from(facts)
                .where(mine)
                .scalar_subquery(),
            )
        )
    return sum(1 for row in rows if row["kev"])


def admissions(engine: Engine, digests: list[str], events: int, rng: random.Random) -> None:
    """``events`` admission reviews of the seeded images over the last 30 days."""
    now = datetime.now(UTC)
    AdmissionLog(engine).record(
        [
            AdmissionEvent(
                created_at=now - timedelta(minutes=rng.uniform(0, 43_200)),
                uid=f"{n:032x}",
                operation="CREATE",
                namespace=f"ns{n % 50}",
                kind="Deployment",
                name=f"app{n % 400}",
                image=f"registry.example/app@{digest}",
                digest=digest,
                state=rng.choice(["pass", "warn", "block"]),
                allowed=True,
            )
            for n, digest in enumerate(rng.choices(digests, k=events))
        ]
    )


def sign_in(client: httpx.Client, token: str) -> None:
    form = client.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, "no CSRF field on the sign-in page"
    answer = client.post("/signin", data={"token": token, "csrf": csrf.group(1)})
    assert answer.url.path == "/", answer.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed-images", type=int, default=10_000)
    parser.add_argument("--detailed", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--admissions", type=int, default=20_000)
    parser.add_argument("--database-url", help="an empty database (default: SQLite in /tmp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{Path(tmp) / 'console.db'}")
        started = time.perf_counter()
        findings = seed(engine, args.seed_images, random.Random(7))
        digests = detail(engine, args.detailed)
        decided = decisions(engine)
        exploited = exploitation(engine, random.Random(5))
        all_digests = [f"sha256:{n:064x}" for n in range(args.seed_images)]
        admissions(engine, all_digests, args.admissions, random.Random(3))
        PolicyStore(engine).apply(load_bundle(BUNDLE), author="bench", now=datetime.now(UTC))
        if engine.dialect.name == "postgresql":  # statistics, as autovacuum keeps them
            with engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        took = time.perf_counter() - started
        print(
            f"seeded {args.seed_images} images, {findings} image findings, {decided} decisions, "
            f"{exploited} known-exploited vulnerabilities, {args.admissions} admission events, "
            f"{len(digests)} catalogs in {took:.1f} s ({engine.dialect.name})"
        )
        settings = Settings(data_dir=Path(tmp) / "data", webhook_secret=None)
        admin = TokenAuthority(TokenStore(engine), None).issue(frozenset({Scope.ADMIN})).secret
        rng = random.Random(11)
        pages: dict[str, Callable[[], str]] = {
            "overview": lambda: "/",
            "images": lambda: "/images",
            "images filtered+sorted, page 20": lambda: (
                "/images?severity=high&outcome=block&sort=risk&page=20"
            ),
            "images known-exploited, KEV order": lambda: "/images?exploited=yes&sort=kev",
            "images by repository+tag": lambda: (
                f"/images?repository=team{rng.randrange(40)}/app{rng.randrange(400)}"
            ),
            "image": lambda: f"/images/{rng.choice(digests)}",
            "image, findings by EPSS": lambda: f"/images/{rng.choice(digests)}?findings=epss",
            "vulnerability (widespread)": lambda: "/vulnerabilities/CVE-2024-00000",
            "vulnerability (rare)": lambda: (
                f"/vulnerabilities/CVE-2024-0{rng.randrange(2000, 2999)}"
            ),
            "search package": lambda: f"/search?q=lib{rng.randrange(30)}",
            "policies": lambda: "/policies",
            "scans": lambda: "/scans",
            "tokens (admin)": lambda: "/admin/tokens",
            "VEX documents (admin)": lambda: "/admin/vex",
        }
        over = []
        with (
            service(settings, engine) as (base, _),
            httpx.Client(base_url=base, follow_redirects=True) as client,
        ):
            sign_in(client, admin)
            for name, path in pages.items():
                times = []
                for _ in range(args.repeat):
                    began = time.perf_counter()
                    answer = client.get(path())
                    times.append(time.perf_counter() - began)
                    assert answer.status_code in (200, 404), (name, answer.status_code)
                p50, p99 = median(times), percentile(times, 0.99)
                print(f"{name:34s} p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms")
                if p50 > BUDGET_S:
                    over.append(name)
                elif p99 > BUDGET_S:
                    print("  p99 over the budget")
        engine.dispose()
    if over:
        raise SystemExit(f"over the {BUDGET_S * 1000:.0f} ms budget: {', '.join(over)}")


if __name__ == "__main__":
    main()
