from __future__ import annotations

import json
from dataclasses import replace

from service.auth.tokens import Scope
from service.layers.compose import compose
from service.layers.model import LayerContents, LayerSecret, SecretKind
from service.store.catalogs import CatalogStore
from service.store.images import ImageStore
from service.store.policies import PolicyStore
from tests.unit.api.conftest import InlineDispatcher, TestClient, token
from tests.unit.jobs.fakes import apply_tiered_bundle, fake_match

REGISTRY = "127.0.0.1:5000"


def scan(client: TestClient, headers, image: str) -> dict:
    response = client.post("/api/v1/scans", json={"image": image}, headers=headers)
    assert response.status_code == 202, response.text
    return client.get(f"/api/v1/scans/{response.json()['id']}", headers=headers).json()


def test_post_scan_is_accepted_and_runs_to_done(client: TestClient, admin):
    response = client.post(
        "/api/v1/scans", json={"image": f"{REGISTRY}/apps/openssl:1"}, headers=admin
    )
    assert response.status_code == 202
    assert set(response.json()) == {"id", "status"}
    assert response.headers["Location"] == f"/api/v1/scans/{response.json()['id']}"
    done = client.get(response.headers["Location"], headers=admin).json()
    assert done["status"] == "done" and done["digest"].startswith("sha256:")
    assert set(done["timings"]) == {"fetch", "catalog", "layers", "match"}


def test_scan_of_a_queued_digest_returns_the_existing_scan(
    client: TestClient, admin, dispatcher: InlineDispatcher
):
    dispatcher.hold = True
    image = f"{REGISTRY}/apps/zlib@sha256:{'a' * 64}"
    first = client.post("/api/v1/scans", json={"image": image}, headers=admin).json()
    second = client.post("/api/v1/scans", json={"image": image}, headers=admin).json()
    assert first == second == {"id": first["id"], "status": "queued"}
    assert len(dispatcher.dispatched) == 1


def test_bad_requests_say_what_to_do(client: TestClient, admin):
    response = client.post("/api/v1/scans", json={"image": "Not A Ref"}, headers=admin)
    assert response.status_code == 400 and response.json()["hint"]
    response = client.post("/api/v1/scans", json={"image": "oci-dir:/etc"}, headers=admin)
    assert response.status_code == 400 and "registry" in response.json()["message"]
    response = client.post(
        "/api/v1/scans", json={"image": f"{REGISTRY}/a:1", "platform": "linux"}, headers=admin
    )
    assert response.status_code == 400 and "os/arch" in response.json()["hint"]
    assert client.get("/api/v1/scans/nope", headers=admin).status_code == 404


def test_images_list_filters_and_paginates(client: TestClient, admin, engine):
    for repo in ("openssl-zlib", "bash", "curl", "zlib"):
        scan(client, admin, f"{REGISTRY}/apps/{repo}:1")
    page = client.get("/api/v1/images?limit=2", headers=admin).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    rest = client.get("/api/v1/images?limit=2&offset=2", headers=admin).json()
    assert {i["digest"] for i in page["items"]}.isdisjoint({i["digest"] for i in rest["items"]})

    high = client.get("/api/v1/images?severity=high", headers=admin).json()
    assert [i["repository"] for i in high["items"]] == ["apps/openssl-zlib"]
    medium = client.get("/api/v1/images?severity=medium", headers=admin).json()
    assert sorted(i["repository"] for i in medium["items"]) == ["apps/openssl-zlib", "apps/zlib"]
    by_repo = client.get("/api/v1/images?repository=apps/curl", headers=admin).json()
    assert by_repo["total"] == 1 and by_repo["items"][0]["severities"]["critical"] == 0


def test_image_detail_sbom_and_vulnerabilities(client: TestClient, engine):
    reader = token(engine, Scope.READ, Scope.SCAN)
    done = scan(client, reader, f"{REGISTRY}/apps/openssl-zlib:1")
    digest = done["digest"]
    detail = client.get(f"/api/v1/images/{digest}", headers=reader).json()
    assert detail["packages"] == 2 and detail["scan_state"] == "scanned"
    stored = PolicyStore(engine).decisions(digest)[-1]
    assert detail["policy"] == detail["decision"]["outcome"] == stored.outcome.value
    assert [r["rule_id"] for r in detail["fired_rules"]] == [r.rule_id for r in stored.fired]
    assert detail["signatures"] == {"signed_by": [], "attestations": []}

    cdx = client.get(f"/api/v1/images/{digest}/sbom", headers=reader)
    assert cdx.headers["content-type"].startswith("application/vnd.cyclonedx+json")
    names = {c["name"] for c in json.loads(cdx.text)["components"]}
    assert {"openssl", "zlib"} <= names
    spdx = client.get(f"/api/v1/images/{digest}/sbom?format=spdx-json", headers=reader)
    assert spdx.json()["spdxVersion"] == "SPDX-2.3"
    assert client.get(f"/api/v1/images/{digest}/sbom?format=xml", headers=reader).status_code == 422

    expected = fake_match(CatalogStore(engine).get(digest))
    vulns = client.get(f"/api/v1/images/{digest}/vulnerabilities", headers=reader).json()
    assert vulns["total"] == len(expected)
    fixable = client.get(
        f"/api/v1/images/{digest}/vulnerabilities?fixable=true&limit=1", headers=reader
    ).json()
    assert fixable["total"] == sum(f.fix_available for f in expected)
    assert len(fixable["items"]) == 1
    high = client.get(
        f"/api/v1/images/{digest}/vulnerabilities?severity=high", headers=reader
    ).json()
    assert {v["id"] for v in high["items"]} == {
        f.id for f in expected if f.severity.rank >= f.severity.HIGH.rank
    }
    for order in ("kev", "epss"):
        listed = client.get(f"/api/v1/images/{digest}/vulnerabilities?sort={order}", headers=reader)
        assert listed.json()["total"] == len(expected)
    unknown = client.get(f"/api/v1/images/{digest}/vulnerabilities?sort=age", headers=reader)
    assert unknown.status_code == 422
    assert client.get("/api/v1/images/sha256:missing", headers=reader).status_code == 404


def test_a_vex_document_suppresses_findings_and_decides_again(client: TestClient, engine, admin):
    apply_tiered_bundle(engine)
    digest = scan(client, admin, f"{REGISTRY}/apps/bash-openssl:1")["digest"]
    assert client.get(f"/api/v1/images/{digest}", headers=admin).json()["policy"] == "block"
    critical = [
        f.id for f in fake_match(CatalogStore(engine).get(digest)) if f.severity == "critical"
    ]
    document = {
        "@context": "https://openvex.dev/ns/v0.2.0",
        "@id": "urn:vex:openssl",
        "statements": [
            {
                "vulnerability": {"name": vuln},
                "products": [{"@id": "pkg:deb/debian/openssl"}],
                "status": "not_affected",
                "justification": "vulnerable_code_not_present",
            }
            for vuln in critical
        ],
    }
    reader = token(engine, Scope.READ)
    refused = client.post("/api/v1/vex", content=json.dumps(document), headers=reader)
    assert refused.status_code == 403
    bad = client.post("/api/v1/vex", content=b'{"neither": 1}', headers=admin)
    assert bad.status_code == 400 and "neither OpenVEX nor CycloneDX" in bad.text
    added = client.post("/api/v1/vex?name=triage", content=json.dumps(document), headers=admin)
    assert added.status_code == 201, added.text
    assert added.json()["statements"] == len(critical)

    detail = client.get(f"/api/v1/images/{digest}", headers=admin).json()
    assert detail["policy"] == "warn"  # the high finding is left
    assert detail["decision"]["trigger"] == "VEX document triage added"
    suppressed = {s["vulnerability"] for s in detail["decision"]["vex_suppressed"]}
    assert suppressed == set(critical)
    listed = client.get(f"/api/v1/images/{digest}/vulnerabilities", headers=admin).json()
    vexed = [f for f in listed["items"] if f["vex"] is not None]
    assert {f["id"] for f in vexed} == set(critical)
    assert vexed[0]["vex"] == {
        "status": "not_affected",
        "justification": "vulnerable_code_not_present",
        "source": "urn:vex:openssl",
    }
    assert [d["name"] for d in client.get("/api/v1/vex", headers=admin).json()] == ["triage"]

    deleted = client.delete(f"/api/v1/vex/{added.json()['id']}", headers=admin)
    assert deleted.status_code == 204
    again = client.get(f"/api/v1/images/{digest}", headers=admin).json()
    assert (
        again["policy"] == "block" and again["decision"]["trigger"] == "VEX document triage deleted"
    )


def test_image_detail_and_layers_show_the_stored_layer_analysis(client: TestClient, engine):
    reader = token(engine, Scope.READ, Scope.SCAN)
    digest = scan(client, reader, f"{REGISTRY}/apps/bash:1")["digest"]
    missing = client.get(f"/api/v1/images/{digest}/layers", headers=reader)
    assert missing.status_code == 404 and "scan the image again" in missing.text

    layer = "sha256:" + "1" * 64
    analysis = compose(
        [
            LayerContents(
                digest=layer,
                compressed_size=50,
                files={"app/.env": 12, "app/big": 100},
                secrets=(LayerSecret(path="app/.env", kind=SecretKind.DOTENV),),
            ),
            LayerContents(digest="sha256:" + "2" * 64, compressed_size=9, whiteouts=("app/big",)),
        ],
        ["COPY . /app", "RUN rm /app/big"],
    )
    images = ImageStore(engine)
    stored = images.get(digest)
    images.record(replace(stored.subject, layers=analysis), [], scan_id=stored.last_scan_id)

    detail = client.get(f"/api/v1/images/{digest}", headers=reader).json()
    assert detail["efficiency"]["wasted_bytes"] == 100
    assert detail["secret_files"] == [
        {"path": "app/.env", "layer": layer, "layer_index": 0, "kind": "dotenv", "visible": True}
    ]
    layers = client.get(f"/api/v1/images/{digest}/layers", headers=reader).json()
    assert [entry["created_by"] for entry in layers["layers"]] == ["COPY . /app", "RUN rm /app/big"]
    assert layers["layers"][1]["files_removed"] == 1
