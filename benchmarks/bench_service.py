"""Scan-service load benchmark: prints numbers, asserts only what must hold.

1. Ingest: N tiny distinct images are pushed to a real local registry (CNCF Distribution);
   the real API (uvicorn on 127.0.0.1, embedded executor, real Syft) receives D webhook
   deliveries (Distribution envelopes) naming those digests, with duplicate pushes (other
   tags, other event ids), redeliveries (same event ids) and ignorable events (pulls, blob
   pushes). Exactly N scans must be created and finish, none lost. Webhook response times
   are measured at the client.
2. Dashboard: 10,000 images (with findings spread and scans over 30 days) are seeded
   directly into the database; summary, trends and top-vulnerabilities are timed.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_service.py [--images 50]
        [--deliveries 500] [--seed-images 10000] [--database-url URL]

``--database-url`` (default: a temporary SQLite file) must name an empty database.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.auth.tokens import Scope, TokenAuthority
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from service.store.images import ImageRow, ImageVulnRow, VulnSummaryRow
from service.store.scans import ScanRow, ScanStatus, ScanStore
from service.store.tokens import TokenStore
from service.vulndb.model import Severity
from tests.integration.service_support import (
    VENV_BIN,
    WEBHOOK_SECRET,
    ServerThread,
    push_tiny_image,
    wait_for,
)
from tests.support.registry import LocalRegistry, free_loopback_port

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
SEVERITIES = [s for s in Severity if s is not Severity.UNKNOWN]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


@contextmanager
def service(settings: Settings, engine: Engine) -> Iterator[tuple[str, str]]:
    """(base URL, read+webhook token) of the real API served by uvicorn on loopback."""
    token = (
        TokenAuthority(TokenStore(engine), None)
        .issue(frozenset({Scope.READ, Scope.WEBHOOK}), "bench")
        .secret
    )
    with ServerThread(create_app(settings, engine=engine), free_loopback_port()) as server:
        yield server.url, token


def event(
    host: str, repo: str, digest: str, tag: str | None, action: str = "push"
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "timestamp": datetime.now(UTC).isoformat(),
        "action": action,
        "target": {
            "mediaType": MANIFEST,
            "digest": digest,
            "repository": repo,
            "url": f"http://{host}/v2/{repo}/manifests/{digest}",
            **({"tag": tag} if tag else {}),
        },
        "request": {"host": host, "method": "PUT"},
    }


def noise(host: str, repo: str, digest: str) -> list[dict[str, Any]]:
    pull = event(host, repo, digest, "1", action="pull")
    blob = event(host, repo, "sha256:" + uuid.uuid4().hex * 2, None)
    blob["target"]["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    return [pull, blob]


def deliveries(
    host: str, pushed: list[tuple[str, str]], total: int, rng: random.Random
) -> list[bytes]:
    """``total`` envelopes: every digest once, then duplicate pushes, redeliveries, noise."""
    envelopes: list[list[dict[str, Any]]] = [[event(host, r, d, "1")] for r, d in pushed]
    while len(envelopes) < total:
        repo, digest = rng.choice(pushed)
        kind = rng.random()
        if kind < 0.4:  # the registry redelivers an envelope it sent before (same ids)
            envelopes.append(rng.choice(envelopes))
        elif kind < 0.7:  # the same manifest pushed again under another tag
            envelopes.append([event(host, repo, digest, rng.choice(["latest", "2", None]))])
        else:  # several events: a push of a known digest among pulls and blob pushes
            batch = [*noise(host, repo, digest), event(host, repo, digest, "stable")]
            rng.shuffle(batch)
            envelopes.append(batch)
    rng.shuffle(envelopes)
    return [json.dumps({"events": e}).encode() for e in envelopes]


def ingest(args: argparse.Namespace, tmp: Path) -> None:
    rng = random.Random(42)
    engine = make_engine(args.database_url or f"sqlite:///{tmp / 'ingest.db'}")
    settings = Settings(
        data_dir=tmp / "data",
        allowed_registries=["127.0.0.1:*"],  # the local registry (remote pulls are restricted)
        webhook_secret=Secret(WEBHOOK_SECRET),
        syft_path=str(VENV_BIN / "syft"),
        embedded_workers=args.workers,
        docker_config=tmp / "no-docker-config.json",
    )
    with LocalRegistry(tmp / "registry") as registry:
        started = time.perf_counter()
        pushed = [
            (repo, push_tiny_image(tmp, registry.host, repo, f"bench-{i}"))
            for i in range(args.images)
            for repo in [f"bench/app{i % 5}"]
        ]
        print(f"pushed {len(pushed)} distinct images in {time.perf_counter() - started:.1f} s")
        bodies = deliveries(registry.host, pushed, args.deliveries, rng)
        events = sum(len(json.loads(b)["events"]) for b in bodies)
        with service(settings, engine) as (url, _):
            latencies, statuses = post_all(url, bodies, args.concurrency)
            sent = time.perf_counter()
            scans = ScanStore(engine)

            def drained() -> dict[ScanStatus, int] | None:
                counts = scans.counts_by_status()
                busy = counts[ScanStatus.QUEUED] + counts[ScanStatus.RUNNING]
                return counts if busy == 0 and sum(counts.values()) >= len(pushed) else None

            counts = wait_for(drained, args.timeout, "scans did not finish", every=0.5)
            drain = time.perf_counter() - sent
    print(f"webhook deliveries: {len(bodies)} envelopes, {events} events, statuses {statuses}")
    print(
        f"webhook response time: p50 {ms(percentile(latencies, 50))}, "
        f"p95 {ms(percentile(latencies, 95))}, p99 {ms(percentile(latencies, 99))}, "
        f"max {ms(max(latencies))} (concurrency {args.concurrency})"
    )
    total = sum(counts.values())
    print(
        f"scans: {total} created for {len(pushed)} distinct digests; "
        f"done {counts[ScanStatus.DONE]}, failed {counts[ScanStatus.FAILED]}; "
        f"all finished {drain:.1f} s after the last delivery "
        f"({args.workers} embedded workers, real Syft)"
    )
    assert statuses == {202: len(bodies)}, statuses
    assert total == counts[ScanStatus.DONE] == len(pushed), counts
    engine.dispose()


def post_all(url: str, bodies: list[bytes], concurrency: int) -> tuple[list[float], dict[int, int]]:
    headers = {
        "Authorization": f"Bearer {WEBHOOK_SECRET}",
        "Content-Type": "application/vnd.docker.distribution.events.v2+json",
    }

    def post(client: httpx.Client, body: bytes) -> tuple[float, int]:
        started = time.perf_counter()
        response = client.post("/api/v1/webhooks/distribution", content=body, headers=headers)
        return time.perf_counter() - started, response.status_code

    clients = [httpx.Client(base_url=url, timeout=30) for _ in range(concurrency)]
    try:
        with ThreadPoolExecutor(concurrency) as pool:
            results = list(
                pool.map(lambda ib: post(clients[ib[0] % concurrency], ib[1]), enumerate(bodies))
            )
    finally:
        for client in clients:
            client.close()
    statuses: dict[int, int] = {}
    for _, status in results:
        statuses[status] = statuses.get(status, 0) + 1
    return [latency for latency, _ in results], statuses


def seed(engine: Engine, images: int, rng: random.Random) -> int:
    """``images`` image rows with findings from a pool of vulnerabilities, and their scans."""
    now = datetime.now(UTC)
    pool = [(f"CVE-2024-{n:05d}", rng.choice(SEVERITIES), rng.random() < 0.5) for n in range(3000)]
    weights = [1 / (n + 1) for n in range(len(pool))]  # a few vulnerabilities are everywhere
    image_rows, vuln_rows, scan_rows = [], [], []
    spread: dict[str, int] = {}
    for n in range(images):
        digest = f"sha256:{n:064x}"
        vulns = {pool[i] for i in rng.choices(range(len(pool)), weights, k=rng.randint(0, 40))}
        counts = {s.value: 0 for s in Severity}
        for vuln_id, severity, fixable in vulns:
            counts[severity.value] += 1
            spread[vuln_id] = spread.get(vuln_id, 0) + 1
            vuln_rows.append(
                {
                    "digest": digest,
                    "vuln_id": vuln_id,
                    "severity": severity.value,
                    "fixable": fixable,
                }
            )
        seen = now - timedelta(days=rng.uniform(0, 90))
        finished = now - timedelta(days=rng.uniform(0, 30))
        image_rows.append(
            {
                "digest": digest,
                "reference": f"registry.example/team{n % 40}/app{n % 400}@{digest}",
                "registry_host": "registry.example",
                "repository": f"team{n % 40}/app{n % 400}",
                "platform": "linux/amd64",
                "first_seen": seen,
                "scanned_at": finished,
                "last_scan_id": f"{n:032x}",
                "packages": rng.randint(10, 400),
                **counts,
                "fixable": sum(1 for v in vulns if v[2]),
                "max_severity": max((v[1].rank for v in vulns), default=-1),
                "policy_outcome": rng.choice(["pass", "warn", "block"]),
                "scan_state": "scanned",
                "signed_by": "",
                "attestations": "",
            }
        )
        scan_rows.append(
            {
                "id": f"{n:032x}",
                "reference": image_rows[-1]["reference"],
                "source": "bench",
                "queue": "push",
                "status": rng.choice([ScanStatus.DONE.value] * 9 + [ScanStatus.FAILED.value]),
                "digest": digest,
                "engine": "syft",
                "engine_version": "1.18.1",
                "db_revision": 1,
                "attempts": 1,
                "created_at": finished - timedelta(seconds=30),
                "finished_at": finished,
                "duration": rng.uniform(1, 30),
            }
        )
    info = {v: (s, f) for v, s, f in pool}
    with engine.begin() as connection:
        connection.execute(insert(ImageRow), image_rows)
        connection.execute(insert(ScanRow), scan_rows)
        for start in range(0, len(vuln_rows), 20_000):
            connection.execute(insert(ImageVulnRow), vuln_rows[start : start + 20_000])
        connection.execute(
            insert(VulnSummaryRow),
            [
                {
                    "vuln_id": v,
                    "severity": info[v][0].value,
                    "fixable": info[v][1],
                    "affected_images": n,
                }
                for v, n in spread.items()
            ],
        )
    return len(vuln_rows)


def timed(call: Callable[[], httpx.Response], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = call()
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return times


def dashboard(args: argparse.Namespace, tmp: Path) -> None:
    url = args.dashboard_database_url or f"sqlite:///{tmp / 'dashboard.db'}"
    engine = make_engine(url)
    started = time.perf_counter()
    findings = seed(engine, args.seed_images, random.Random(7))
    print(
        f"seeded {args.seed_images} images, {findings} image findings and "
        f"{args.seed_images} scans in {time.perf_counter() - started:.1f} s ({engine.dialect.name})"
    )
    settings = Settings(data_dir=tmp / "dash-data", webhook_secret=Secret(WEBHOOK_SECRET))
    with (
        service(settings, engine) as (base, token),
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        summary = client.get("/api/v1/dashboard/summary").json()
        assert summary["images"] == args.seed_images, summary
        for name, path in (
            ("summary", "/api/v1/dashboard/summary"),
            ("trends?days=30", "/api/v1/dashboard/trends?days=30"),
            ("top-vulnerabilities", "/api/v1/dashboard/top-vulnerabilities?limit=10"),
            ("images?severity=critical", "/api/v1/images?severity=critical&limit=50"),
        ):
            times = timed(lambda p=path: client.get(p), args.repeat)
            print(
                f"dashboard {name}: p50 {ms(statistics.median(times))}, "
                f"p95 {ms(percentile(times, 95))}, max {ms(max(times))} "
                f"({args.repeat} requests over HTTP)"
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--seed-images", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--database-url", help="empty database for the ingest part")
    parser.add_argument("--dashboard-database-url", help="empty database for the dashboard part")
    parser.add_argument("--skip-ingest", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tollgate-bench-") as tmp:
        if not args.skip_ingest:
            ingest(args, Path(tmp))
        dashboard(args, Path(tmp))


if __name__ == "__main__":
    main()
