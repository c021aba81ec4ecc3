"""Admission latency under load, and the cost of one policy evaluation.

1. Real uvicorn servers (N processes on one 127.0.0.1 socket) serve Tollgate with
   stored scans and recorded decisions; requests are AdmissionReviews for digest-pinned
   Pods (two containers, stored verdicts).
   - ``wrk`` (Debian's wrk 4, closed loop, ``-c`` connections): maximum throughput.
   - an open-loop client (raw asyncio HTTP/1.1 keep-alive connections, requests sent on a
     fixed schedule, latency measured from the *scheduled* time as wrk2 does, so a stalled
     server is not hidden by coordinated omission): p50/p99 at a fixed rate.
   - server CPU per request, from /proc (all uvicorn processes).
2. ``evaluate_bundle`` of the default bundle against an image with 500 findings.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_admission.py [--rate 200 --seconds 20
     --workers 1 --database-url postgresql+psycopg://postgres@127.0.0.1/test]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI

from policies.engine import evaluate_bundle
from policies.subject import EvaluationInput
from service.api.app import create_app
from service.auth.tokens import Scope, TokenAuthority
from service.catalog.model import Catalog, ImageSubject, Package, PackageType
from service.gate import shipped_bundle
from service.image.reference import parse_reference
from service.settings import Settings
from service.store.database import make_engine
from service.store.tokens import TokenStore
from service.vulndb.model import Finding, PackageRef, Severity
from tests.unit.admission.helpers import apply_bundle, digest_of, store_scan, verdicts
from tests.unit.admission.reviews import pod_spec, review, workload

IMAGES = [f"127.0.0.1:5000/apps/app{i}@{digest_of(f'app{i}')}" for i in range(20)]
PATH = "/api/v1/admission"


def app_factory() -> FastAPI:  # uvicorn --factory: settings from TOLLGATE_* in the environment
    return create_app(Settings.from_env(), engine_version=lambda _: "bench")


def prepare(url: str) -> str:
    """Stored scans with decisions recorded (as the worker records them); a webhook token."""
    engine = make_engine(url)
    apply_bundle(engine)
    stored = verdicts(engine)
    for i, image in enumerate(IMAGES):
        severities = [Severity.HIGH] * (i % 3) + [Severity.MEDIUM] * 20
        store_scan(engine, image, digest_of(f"app{i}"), severities)
        stored.decision(digest_of(f"app{i}"), parse_reference(image))
    token = (
        TokenAuthority(TokenStore(engine), None).issue(frozenset({Scope.WEBHOOK}), "bench").secret
    )
    engine.dispose()
    return token


def bodies() -> list[bytes]:
    return [
        json.dumps(
            review(workload("Pod", pod_spec(IMAGES[i], IMAGES[(i + 1) % len(IMAGES)])))
        ).encode()
        for i in range(len(IMAGES))
    ]


@dataclass
class Server:
    url: str
    host: str
    port: int
    pids: list[int]


def serve_on(fd: int) -> None:
    """One server process on an inherited listening socket (``--serve-fd``)."""
    import uvicorn

    config = uvicorn.Config(
        "benchmarks.bench_admission:app_factory",
        factory=True,
        log_level="warning",
        access_log=False,
    )
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


@contextmanager
def serve(env: dict[str, str], workers: int) -> Iterator[Server]:
    """``workers`` uvicorn processes sharing one listening socket.

    Not ``uvicorn --workers N``: on Linux it hands its children a listener whose ``proto``
    is 0, so asyncio never sets TCP_NODELAY on accepted connections and every keep-alive
    response waits ~40 ms for the client's delayed ACK (uvicorn issue #3149).
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(2048)
    port = listener.getsockname()[1]
    fd = listener.fileno()
    command = [sys.executable, __file__, "--serve-fd", str(fd)]
    processes = [subprocess.Popen(command, env=env, pass_fds=(fd,)) for _ in range(workers)]
    listener.close()
    url = f"http://127.0.0.1:{port}"
    try:
        for process in processes:
            wait_ready(url, process)
        yield Server(url, "127.0.0.1", port, [p.pid for p in processes])
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit("uvicorn exited")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("uvicorn did not start")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the server processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for one in pids:
        fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def wrk_script(directory: Path, token: str) -> Path:
    requests = ",\n".join(f"[==[{body.decode()}]==]" for body in bodies())
    script = directory / "admission.lua"
    script.write_text(
        f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local bodies = {{
{requests}
}}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, "{PATH}", nil, bodies[(n % #bodies) + 1])
end
"""
    )
    return script


def run_wrk(server: Server, script: Path, seconds: float, connections: int) -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        return "wrk not installed (apt-get install -y wrk)"
    before = cpu_seconds(server.pids)
    out = subprocess.run(
        [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", str(script),
         server.url + PATH],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(server.pids) - before
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pcts = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.MULTILINE))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return (
        f"wrk -c{connections}: {rate:.0f} req/s, p50 {pcts.get('50')} p99 {pcts.get('99')}, "
        f"server CPU {cpu / (rate * seconds) * 1000:.2f} ms/request"
        + (f", {errors.group(1)} non-2xx" if errors else "")
    )


async def open_loop(
    server: Server, token: str, rate: float, seconds: float, connections: int
) -> tuple[list[float], int]:
    """Latencies (s, from each request's scheduled send time) and the error count."""
    payloads = [
        (
            f"POST {PATH} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        + body
        for body in bodies()
    ]
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    start = loop.time() + 0.2
    latencies: list[float] = []
    errors = 0
    next_index = 0

    async def connection() -> None:
        nonlocal next_index, errors
        reader, writer = await asyncio.open_connection(server.host, server.port)
        while next_index < total:
            n = next_index
            next_index += 1
            due = start + n / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            writer.write(payloads[n % len(payloads)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            latencies.append(loop.time() - due)
            if not head.startswith(b"HTTP/1.1 200") or b'"allowed"' not in body:
                errors += 1
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return latencies, errors


def run_open_loop(server: Server, token: str, rate: float, seconds: float) -> str:
    before = cpu_seconds(server.pids)
    latencies, errors = asyncio.run(open_loop(server, token, rate, seconds, connections=64))
    cpu = cpu_seconds(server.pids) - before
    ms = sorted(v * 1000 for v in latencies)

    def pick(p: float) -> float:
        return ms[min(len(ms) - 1, int(p / 100 * len(ms)))]

    return (
        f"open loop {rate:g} req/s x {seconds:g}s: p50 {pick(50):.2f} ms  p90 {pick(90):.2f} ms  "
        f"p99 {pick(99):.2f} ms  max {ms[-1]:.2f} ms; server CPU "
        f"{cpu / len(ms) * 1000:.2f} ms/request" + (f"; {errors} errors" if errors else "")
    )


def bench_http(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        url = args.database_url or f"sqlite:///{root / 'tollgate.db'}"
        token = prepare(url)
        env = {
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "TOLLGATE_DATA_DIR": str(root),
            "TOLLGATE_DATABASE_URL": url,
            "TOLLGATE_ADMISSION_BUNDLE": "admission",
            "TOLLGATE_ALLOWED_REGISTRIES": '["127.0.0.1:*"]',
        }
        script = wrk_script(root, token)
        for workers in args.workers:
            with serve(env, workers) as server:
                print(f"admission over HTTP, {workers} uvicorn process(es), 2 images per review:")
                asyncio.run(open_loop(server, token, 100, 1.0, 8))  # warm-up: fill caches
                print("  " + run_wrk(server, script, args.seconds, args.connections))
                print("  " + run_open_loop(server, token, args.rate, args.seconds))


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
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--skip-evaluation", action="store_true")
    parser.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fd is not None:
        serve_on(args.serve_fd)
        return
    if not args.skip_evaluation:
        bench_evaluation()
    bench_http(args)


if __name__ == "__main__":
    main()
