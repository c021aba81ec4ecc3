from __future__ import annotations

import json

from service.registry.credentials import Credentials
from tests.unit.api.conftest import WEBHOOK_SECRET, InlineDispatcher, TestClient
from tests.unit.jobs.fakes import apply_tiered_bundle

SECRET = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def event(event_id: str, action: str, media_type: str, repo: str, digest: str) -> dict:
    return {
        "id": event_id,
        "timestamp": "2024-05-01T10:00:00Z",
        "action": action,
        "target": {
            "mediaType": media_type,
            "digest": digest,
            "repository": repo,
            "url": f"http://127.0.0.1:5000/v2/{repo}/manifests/{digest}",
            "tag": "1",
        },
        "request": {"host": "127.0.0.1:5000", "method": "PUT"},
    }


def envelope(*events: dict) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def test_distribution_envelope_queues_manifest_and_index_pushes_only(
    client: TestClient, dispatcher: InlineDispatcher
):
    dispatcher.hold = True
    body = envelope(
        event("e1", "push", MANIFEST, "apps/openssl", digest(1)),
        event("e2", "push", LAYER, "apps/openssl", digest(2)),
        event("e3", "pull", MANIFEST, "apps/openssl", digest(1)),
        event("e4", "push", INDEX, "apps/multi", digest(3)),
        event("e5", "delete", MANIFEST, "apps/openssl", digest(1)),
    )
    headers = {**SECRET, "Content-Type": "application/vnd.docker.distribution.events.v1+json"}
    response = client.post("/api/v1/webhooks/distribution", content=body, headers=headers)
    assert response.status_code == 202
    assert response.json()["ignored"] == 3 and len(response.json()["scans"]) == 2
    assert [q for _, q in dispatcher.dispatched] == ["push", "push"]

    # Redelivery of the same events: acknowledged, nothing new queued.
    again = client.post("/api/v1/webhooks/distribution", content=body, headers=headers).json()
    assert again["duplicates"] == 2 and again["scans"] == []
    # Another event for an already queued digest maps to the existing scan.
    other = envelope(event("e9", "push", MANIFEST, "apps/openssl", digest(1)))
    third = client.post("/api/v1/webhooks/distribution", content=other, headers=headers).json()
    assert third["scans"] == response.json()["scans"][:1]
    assert len(dispatcher.dispatched) == 2


def test_cosign_signatures_and_attestations_pushed_are_not_scanned(
    client: TestClient, dispatcher: InlineDispatcher
):
    dispatcher.hold = True
    image = event("e1", "push", MANIFEST, "apps/signed", digest(1))
    attachments = [
        {
            **event(f"e{n}", "push", MANIFEST, "apps/signed", digest(n)),
            "target": {**image["target"], "digest": digest(n), "tag": f"sha256-{1:064x}.{kind}"},
        }
        for n, kind in ((2, "sig"), (3, "att"), (4, "sbom"))
    ]
    answer = client.post(
        "/api/v1/webhooks/distribution", content=envelope(image, *attachments), headers=SECRET
    )
    assert answer.status_code == 202, answer.text
    assert answer.json()["ignored"] == 3
    assert len(dispatcher.dispatched) == 1


def test_malformed_envelope_is_rejected(client: TestClient):
    response = client.post("/api/v1/webhooks/distribution", content=b"{}", headers=SECRET)
    assert response.status_code == 400


HARBOR_DATA = {
    "resources": [
        {"digest": digest(7), "tag": "1.0", "resource_url": "127.0.0.1:5000/library/bash:1.0"}
    ],
    "repository": {"name": "bash", "namespace": "library", "repo_full_name": "library/bash"},
}


def test_harbor_default_and_cloudevents_formats(client: TestClient, dispatcher: InlineDispatcher):
    dispatcher.hold = True
    default = {
        "type": "PUSH_ARTIFACT",
        "occur_at": 1714557600,
        "operator": "admin",
        "event_data": HARBOR_DATA,
    }
    first = client.post("/api/v1/webhooks/harbor", json=default, headers=SECRET).json()
    cloud = {
        "specversion": "1.0",
        "id": "4b8e1a2c",
        "source": "/projects/1/webhook/policies/1",
        "type": "harbor.artifact.pushed",
        "datacontenttype": "application/json",
        "time": "2024-05-01T10:00:00Z",
        "data": HARBOR_DATA,
    }
    second = client.post("/api/v1/webhooks/harbor", json=cloud, headers=SECRET).json()
    assert len(first["scans"]) == 1 and second["scans"] == first["scans"]
    pulled = {**default, "type": "PULL_ARTIFACT"}
    assert client.post("/api/v1/webhooks/harbor", json=pulled, headers=SECRET).json()["scans"] == []


def test_harbor_adapter_scan_and_reports(client: TestClient, admin, dispatcher: InlineDispatcher):
    metadata = client.get("/harbor/api/v1/metadata", headers=admin)
    assert metadata.headers["content-type"].startswith(
        "application/vnd.scanner.adapter.metadata+json"
    )
    assert {c["type"] for c in metadata.json()["capabilities"]} == {"vulnerability", "sbom"}

    dispatcher.hold = True
    request = {
        "registry": {"url": "http://127.0.0.1:5000", "authorization": "Basic cm9ib3Q6c2VjcmV0"},
        "artifact": {
            "repository": "apps/openssl-zlib",
            "digest": digest(11),
            "mime_type": MANIFEST,
        },
    }
    accepted = client.post("/harbor/api/v1/scan", json=request, headers=admin)
    assert accepted.status_code == 202
    scan_id = accepted.json()["id"]
    vuln_accept = {**admin, "Accept": "application/vnd.security.vulnerability.report; version=1.1"}
    pending = client.get(
        f"/harbor/api/v1/scan/{scan_id}/report", headers=vuln_accept, follow_redirects=False
    )
    assert pending.status_code == 302 and int(pending.headers["Refresh-After"]) > 0
    # The worker gets the credentials Harbor sent ("robot:secret") for that registry host.
    pull_auth = dispatcher.pull_auth[scan_id]
    assert pull_auth.host == "127.0.0.1:5000"
    assert pull_auth.credentials == Credentials("robot", "secret")

    dispatcher.job.run(scan_id)
    report = client.get(f"/harbor/api/v1/scan/{scan_id}/report", headers=vuln_accept).json()
    assert report["artifact"]["digest"] == digest(11)
    assert report["artifact"]["repository"] == "apps/openssl-zlib"
    assert report["severity"] == "Critical"
    assert {v["package"] for v in report["vulnerabilities"]} == {"openssl", "zlib"}

    sbom_accept = {**admin, "Accept": "application/vnd.security.sbom.report+json; version=1.0"}
    sbom = client.get(
        f"/harbor/api/v1/scan/{scan_id}/report?sbom_media_type=application/spdx%2Bjson",
        headers=sbom_accept,
    ).json()
    assert (
        sbom["media_type"] == "application/spdx+json" and sbom["sbom"]["spdxVersion"] == "SPDX-2.3"
    )
    missing = client.get(f"/harbor/api/v1/scan/{scan_id}/report", headers=sbom_accept)
    assert missing.status_code == 400 and "message" in missing.json()["error"]


def test_harbor_scans_are_keyed_by_registry_and_digest(
    client: TestClient, admin, dispatcher: InlineDispatcher
):
    """A digest scanned in one registry is not reported for a request naming another: the
    other registry's image is pulled (with its own credentials) in a scan of its own."""
    dispatcher.hold = True

    def scan_in(registry: str, repository: str) -> str:
        request = {
            "registry": {"url": registry},
            "artifact": {"repository": repository, "digest": digest(21), "mime_type": MANIFEST},
        }
        answer = client.post("/harbor/api/v1/scan", json=request, headers=admin)
        assert answer.status_code == 202, answer.text
        scan_id: str = answer.json()["id"]
        return scan_id

    first = scan_in("http://127.0.0.1:5000", "apps/openssl")
    assert scan_in("http://127.0.0.1:5000", "apps/openssl") == first  # the same image
    assert scan_in("http://127.0.0.1:5001", "apps/openssl") != first  # another registry
    assert scan_in("http://127.0.0.1:5000", "apps/other") != first  # another repository


def test_harbor_adapter_refuses_unusable_authorization(client: TestClient, admin):
    request = {
        "registry": {"url": "http://127.0.0.1:5000", "authorization": "Basic not-base64!"},
        "artifact": {"repository": "apps/bash", "digest": digest(12), "mime_type": MANIFEST},
    }
    refused = client.post("/harbor/api/v1/scan", json=request, headers=admin)
    assert refused.status_code == 400
    assert "not-base64" not in refused.text and "Basic" in refused.json()["error"]["message"]


def test_readyz_is_open_and_says_only_which_dependency_is_down(
    client: TestClient, dispatcher: InlineDispatcher
):
    dispatcher.up = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": True, "broker": False}


def test_dashboard_readyz_and_metrics(client: TestClient, admin, engine):
    apply_tiered_bundle(engine)
    for repo in ("openssl-zlib", "openssl", "bash"):
        assert (
            client.post(
                "/api/v1/scans", json={"image": f"127.0.0.1:5000/apps/{repo}:1"}, headers=admin
            ).status_code
            == 202
        )
    summary = client.get("/api/v1/dashboard/summary", headers=admin).json()
    assert summary["images"] == 3
    assert summary["findings"]["critical"] == 2 and summary["findings"]["low"] == 1
    # openssl-zlib has a critical finding (block); openssl maps to the lenient policy
    # (warn); bash has only a low finding (pass).
    assert summary["policy"] == {"pass": 1, "warn": 1, "block": 1}
    top = client.get("/api/v1/dashboard/top-vulnerabilities?limit=2", headers=admin).json()
    assert [t["affected_images"] for t in top] == [2, 2]
    trends = client.get("/api/v1/dashboard/trends?days=7", headers=admin).json()
    assert len(trends) == 7 and trends[-1]["scans_done"] == 3 and trends[-1]["new_images"] == 3
    assert trends[-1]["decisions"] == {"pass": 1, "warn": 1, "block": 1}
    assert trends[0]["decisions"] == {"pass": 0, "warn": 0, "block": 0}
    assert trends[-1]["findings"] == summary["findings"]  # today's fleet, as the summary
    assert summary["scan_states"] == {"scanned": 3, "failed": 0} and summary["scans_pending"] == 0

    assert client.get("/readyz").json() == {"status": "ready", "database": True, "broker": True}
    metrics = client.get("/metrics", headers=admin).text
    assert 'tollgate_scans{status="done"} 3.0' in metrics
    assert "tollgate_scan_duration_seconds_count 3.0" in metrics
    for queue in ("admission", "push", "bulk"):
        assert f'tollgate_queue_depth{{queue="{queue}"}} 0.0' in metrics
    assert client.get("/openapi.json").status_code == 401
    assert "/api/v1/scans" in client.get("/openapi.json", headers=admin).json()["paths"]


def test_invalid_bodies_are_explained_without_echoing_credentials(client: TestClient, admin):
    secret = "Basic " + "c2VjcmV0LXVzZXI6aHVudGVyMg=="
    request = {"registry": {"url": "http://127.0.0.1:5000", "authorization": secret}}
    refused = client.post("/harbor/api/v1/scan", json=request, headers=admin)
    assert refused.status_code == 422
    assert "artifact" in refused.text
    assert secret not in refused.text and "hunter2" not in refused.text
