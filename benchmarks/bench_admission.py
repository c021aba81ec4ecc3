"""Admission latency under load, and the cost of one policy evaluation.

1. A real uvicorn server (subprocess, 127.0.0.1) serves Tollgate with stored scans in
   SQLite; an open-loop load generator (httpx, asyncio) sends AdmissionReviews for
   digest-pinned Pods (two containers, stored verdicts) at a fixed rate and reports
   latency percentiles.
2. ``evaluate_bundle`` of the default bundle against an image with 500 findings.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_admission.py [--rate 200 --seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from policies.engine import evaluate_bundle
from policies.subject import EvaluationInput
from service.api.app import create_app
from service.auth.tokens import Scope, TokenAuthority
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.gate import shipped_bundle
from service.settings import Settings
from service.store.database import make_engine
from service.store.tokens import TokenStore
from service.vulndb.model import Finding, PackageRef, Severity
from tests.support.registry import free_loopback_port
from tests.unit.admission.helpers import apply_bundle, digest_of, store_scan
from tests.unit.admission.reviews import pod_spec, review, workload

IMAGES = [f"127.0.0.1:5000/apps/app{i}@{digest_of(f'app{i}')}" for i in range(20)]


def app_factory():  # uvicorn --factory: settings from TOLLGATE_* in the environment
    return create_app(Settings(), engine_version=lambda _: "bench")


def prepare(root: Path) -> str:
    engine = make_engine(f"sqlite:///{root / 'tollgate.db'}")
    apply_bundle(engine)
    for i, image in enumerate(IMAGES):
        severities = [Severity.HIGH] * (i % 3) + [Severity.MEDIUM] * 20
        store_scan(engine, image, digest_of(f"app{i}"), severities)
    return TokenAuthority(TokenStore(engine), None).issue(frozenset({Scope.WEBHOOK}), "bench")


async def load(url: str, token: str, rate: float, seconds: float) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    bodies = [
        review(workload("Pod", pod_spec(IMAGES[i], IMAGES[(i + 1) % len(IMAGES)])))
        for i in range(len(IMAGES))
    ]
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=10
    ) as client:

        async def one(n: int, due: float) -> None:
            nonlocal errors
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            start = time.perf_counter()
            response = await client.post("/api/v1/admission", json=bodies[n % len(bodies)])
            latencies.append(time.perf_counter() - max(start, due))
            if response.status_code != 200 or "allowed" not in response.json()["response"]:
                errors += 1

        begin = time.perf_counter() + 0.2
        total = int(rate * seconds)
        await asyncio.gather(*(one(n, begin + n / rate) for n in range(total)))
    if errors:
        print(f"  {errors} request(s) failed")
    return latencies


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(200):
        if process.poll() is not None:
            raise SystemExit("uvicorn exited")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("uvicorn did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def bench_http(rate: float, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        token = prepare(root)
        port = free_loopback_port()
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "TOLLGATE_DATA_DIR": str(root),
            "TOLLGATE_DATABASE_URL": f"sqlite:///{root / 'tollgate.db'}",
            "TOLLGATE_ADMISSION_BUNDLE": "admission",
        }
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "benchmarks.bench_admission:app_factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        process = subprocess.Popen(command, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, process)
            asyncio.run(load(url, token, rate, 1.0))  # warm-up: decisions recorded, caches filled
            latencies = asyncio.run(load(url, token, rate, seconds))
        finally:
            process.terminate()
            process.wait(timeout=10)
    ms = [v * 1000 for v in latencies]
    print(
        f"admission over HTTP (uvicorn, 1 worker): {len(ms)} requests at {rate:g}/s, 2 images each"
    )
    print(
        f"  p50 {percentile(ms, 50):.2f} ms  p90 {percentile(ms, 90):.2f} ms  "
        f"p99 {percentile(ms, 99):.2f} ms  max {max(ms):.2f} ms  mean {statistics.fmean(ms):.2f} ms"
    )


def bench_evaluation(findings: int = 500, rounds: int = 50) -> None:
    bundle = shipped_bundle("default")
    assert bundle is not None
    packages = tuple(
        Package(
            name=f"pkg{i}", version="1.0", type=PackageType.DEB, purl=f"pkg:deb/debian/pkg{i}@1.0"
        )
        for i in range(findings)
    )
    severities = list(Severity)
    subject = EvaluationInput(
        reference="127.0.0.1:5000/apps/big:1",
        registry="127.0.0.1:5000",
        repository="apps/big",
        tag="1",
        digest=digest_of("big"),
        catalog=Catalog(
            image=ImageSubject(
                reference="127.0.0.1:5000/apps/big:1",
                digest=digest_of("big"),
                platform="linux/amd64",
            ),
            packages=packages,
            engine="syft",
            engine_version="1.18.1",
        ),
        findings=tuple(
            Finding(
                id=f"CVE-2024-{10000 + i}",
                severity=severities[i % len(severities)],
                package=PackageRef(name=p.name, version=p.version, type="deb", purl=p.purl),
                fixed_versions=("1.1",) if i % 2 else (),
                fix_available=bool(i % 2),
                fix_published=datetime(2024, 1, 1, tzinfo=UTC),
                source="bench",
            )
            for i, p in enumerate(packages)
        ),
    )
    now = datetime.now(UTC)
    evaluate_bundle(bundle, subject, now=now)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        decision = evaluate_bundle(bundle, subject, now=now)
        times.append((time.perf_counter() - start) * 1000)
    print(
        f"policy evaluation, default bundle, {findings} findings: "
        f"median {statistics.median(times):.2f} ms, max {max(times):.2f} ms ({decision.outcome})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    bench_evaluation()
    bench_http(args.rate, args.seconds)


if __name__ == "__main__":
    main()
