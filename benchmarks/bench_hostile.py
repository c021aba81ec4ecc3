"""Hostile load on a running service, loopback only, bounded in count and time.

The real API (uvicorn on 127.0.0.1, embedded workers, real Syft, SQLite) gets, all at once:
  * a flood of scan requests from one token, for images on two registries that accept
    connections and never answer;
  * webhook deliveries of 50 events each naming those registries;
  * AdmissionReviews of Pods with 1,000 images, and ordinary ones naming a scanned image;
  * one legitimate scan, from another token, of an image in a real local registry.
Prints how the flood was answered (202 / 429), admission latency (p50, p99) under that load,
how long the legitimate scan took, and the process's peak memory. It asserts what must hold:
no 5xx, the legitimate scan finishes, every admission is answered within its budget.

    PYTHONPATH=. .venv/bin/python -m benchmarks.bench_hostile [--flood 300]
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from tests.integration.service_support import (
    LOOPBACK_REGISTRIES,
    VENV_BIN,
    WEBHOOK_SECRET,
    ServerThread,
    api_token,
    finished_scan,
    push_tiny_image,
)
from tests.support.registry import LocalRegistry, free_loopback_port
from tests.unit.admission.reviews import pod_spec, review, workload


class DeadRegistry:
    """Accepts TCP connections on 127.0.0.1 and never answers."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(512)
        self.host = f"127.0.0.1:{self._socket.getsockname()[1]}"
        self._held: list[socket.socket] = []
        threading.Thread(target=self._hold, daemon=True).start()

    def _hold(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)

    def close(self) -> None:
        self._socket.close()
        for connection in self._held:
            connection.close()


def _distribution(host: str, n: int) -> dict[str, object]:
    digest = f"sha256:{n:064x}"
    return {
        "id": f"e{n}",
        "action": "push",
        "target": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "repository": f"dead/app{n}",
            "url": f"http://{host}/v2/dead/app{n}/manifests/{digest}",
            "tag": "1",
        },
        "request": {"host": host, "method": "PUT"},
    }


def bench(flood: int, deliveries: int, reviews: int) -> None:
    with tempfile.TemporaryDirectory(prefix="tollgate-hostile-") as scratch:
        root = Path(scratch)
        dead = [DeadRegistry(), DeadRegistry()]
        settings = Settings(
            data_dir=root / "data",
            webhook_secret=Secret(WEBHOOK_SECRET),
            syft_path=str(VENV_BIN / "syft"),
            allowed_registries=LOOPBACK_REGISTRIES,
            registry_timeout=2.0,
            registry_retries=1,
        )
        engine = make_engine(settings.sqlalchemy_url)
        flooder = api_token(engine, "flooder", Scope.SCAN, Scope.READ)
        legit = api_token(engine, "legit", Scope.SCAN, Scope.READ)
        hook = {"Authorization": f"Bearer {api_token(engine, 'hook', Scope.WEBHOOK)}"}
        with (
            LocalRegistry(root / "registry") as registry,
            ServerThread(create_app(settings, engine=engine), free_loopback_port()) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            digest = push_tiny_image(root, registry.host, "legit/app", "legit")
            reference = f"{registry.host}/legit/app@{digest}"
            statuses: Counter[int] = Counter()
            latencies: list[float] = []

            def flood_one(n: int) -> None:
                image = f"{dead[n % 2].host}/flood/app:{n}"
                answer = client.post(
                    "/api/v1/scans",
                    json={"image": image},
                    headers={"Authorization": f"Bearer {flooder}"},
                )
                statuses[answer.status_code] += 1

            def deliver(n: int) -> None:
                events = [_distribution(dead[n % 2].host, n * 50 + i) for i in range(50)]
                answer = client.post(
                    "/api/v1/webhooks/distribution",
                    json={"events": events},
                    headers={"Authorization": f"Bearer {WEBHOOK_SECRET}"},
                )
                statuses[answer.status_code] += 1

            def admit(n: int) -> None:
                images = (
                    [f"{dead[0].host}/big/app{i}:1" for i in range(1000)] if n % 2 else [reference]
                )
                started = time.perf_counter()
                answer = client.post(
                    "/api/v1/admission",
                    json=review(workload("Pod", pod_spec(*images))),
                    headers=hook,
                )
                latencies.append(time.perf_counter() - started)
                statuses[answer.status_code] += 1

            legit_scan = client.post(
                "/api/v1/scans",
                json={"image": reference},
                headers={"Authorization": f"Bearer {legit}"},
            ).json()["id"]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=16) as pool:
                work = [pool.submit(flood_one, n) for n in range(flood)]
                work += [pool.submit(deliver, n) for n in range(deliveries)]
                work += [pool.submit(admit, n) for n in range(reviews)]
                for future in work:
                    future.result()
            legit_client = httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {legit}"}, timeout=30
            )
            with legit_client:
                done = finished_scan(legit_client, legit_scan, timeout=600)
            legit_seconds = time.perf_counter() - started
            for registry_ in dead:
                registry_.close()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        latencies.sort()
        p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
        print(f"answers: {dict(sorted(statuses.items()))}")
        print(
            f"admission under load: {len(latencies)} reviews, p50 "
            f"{statistics.median(latencies) * 1e3:.0f} ms, p99 {p99 * 1e3:.0f} ms"
        )
        print(f"legitimate scan: {done['status']} after {legit_seconds:.1f} s")
        print(f"peak memory of the process (server, workers and client): {peak_mb:.0f} MB")
        assert not any(code >= 500 for code in statuses), statuses
        assert done["status"] == "done", done
        assert p99 < settings.admission_scan_budget_seconds, p99


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flood", type=int, default=300)
    parser.add_argument("--deliveries", type=int, default=20)
    parser.add_argument("--reviews", type=int, default=200)
    args = parser.parse_args()
    bench(args.flood, args.deliveries, args.reviews)


if __name__ == "__main__":
    main()
