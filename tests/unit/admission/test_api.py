from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from service.api.app import create_app
from service.auth.tokens import Scope
from service.secret import Secret
from service.settings import Settings
from service.store.database import make_engine
from service.vulndb.model import Severity
from tests.unit.admission.helpers import BUNDLE, apply_bundle, digest_of, store_scan
from tests.unit.admission.reviews import pod_spec, review, workload
from tests.unit.api.conftest import InlineDispatcher, TestClient, token

REG = "127.0.0.1:9"  # nothing listens: tags cannot be resolved
CRITICAL = f"{REG}/apps/critical@{digest_of('critical')}"
HIGH = f"{REG}/apps/high@{digest_of('high')}"


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}")
    apply_bundle(engine)
    store_scan(engine, CRITICAL, digest_of("critical"), [Severity.CRITICAL])
    store_scan(engine, HIGH, digest_of("high"), [Severity.HIGH])
    return engine


@pytest.fixture
def client(engine: Engine, tmp_path: Path):
    settings = Settings(
        data_dir=tmp_path,
        webhook_secret=Secret("webhook-secret-0123456789"),
        admission_bundle="admission",
        insecure_registries=[REG],
        allowed_registries=["127.0.0.1:*"],
    )
    app = create_app(
        settings,
        engine=engine,
        dispatcher=InlineDispatcher(hold=True),
        engine_version=lambda _: "1.0",
    )
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def hook(engine):
    return token(engine, Scope.WEBHOOK)


def test_validating_webhook_answers_with_the_uid_status_and_warnings(client, hook):
    body = review(workload("Deployment", pod_spec(HIGH, CRITICAL)))
    answer = client.post("/api/v1/admission", json=body, headers=hook)
    assert answer.status_code == 200
    data = answer.json()
    assert data["apiVersion"] == "admission.k8s.io/v1" and data["kind"] == "AdmissionReview"
    response = data["response"]
    assert response["uid"] == body["request"]["uid"] and response["allowed"] is False
    assert response["status"]["code"] == 403
    assert (
        CRITICAL in response["status"]["message"] and "no-critical" in response["status"]["message"]
    )
    assert any(HIGH in w for w in response["warnings"])
    assert "patch" not in response


def test_mutating_webhook_pins_tags_or_says_it_cannot_decide(client, hook):
    body = review(workload("Pod", pod_spec(HIGH)))
    response = client.post("/api/v1/admission/mutate", json=body, headers=hook).json()["response"]
    assert response["allowed"] is True and "patch" not in response  # already pinned

    body = review(workload("Pod", pod_spec(f"{REG}/apps/high:1")))
    response = client.post("/api/v1/admission/mutate", json=body, headers=hook).json()["response"]
    assert (
        response["allowed"] is False and "Tollgate cannot decide" in response["status"]["message"]
    )


@pytest.mark.parametrize("image", ["oci-dir:5000/team/app:1.0", "oci-archive:/a.tar", "B@D"])
def test_images_not_in_a_registry_are_denied_not_a_server_error(client, hook, image):
    body = review(workload("Pod", pod_spec(image)))
    for path in ("/api/v1/admission", "/api/v1/admission/mutate"):
        answer = client.post(path, json=body, headers=hook)
        assert answer.status_code == 200, answer.text
        response = answer.json()["response"]
        assert response["allowed"] is False and "fail-closed" in response["status"]["message"]


def test_admission_needs_a_webhook_token_and_a_valid_review(client, hook, engine):
    body = review(workload("Pod", pod_spec(HIGH)))
    assert client.post("/api/v1/admission", json=body).status_code == 401
    reader = token(engine, Scope.READ)
    assert client.post("/api/v1/admission", json=body, headers=reader).status_code == 403
    body["apiVersion"] = "admission.k8s.io/v1beta1"
    assert client.post("/api/v1/admission", json=body, headers=hook).status_code == 422


def test_policy_crud_allowlist_evaluate_and_audit(client, engine):
    admin = token(engine, Scope.ADMIN)
    listed = client.get("/api/v1/policies", headers=admin).json()
    assert [(p["name"], p["version"]) for p in listed] == [("admission", 1)]
    applied = client.put(
        "/api/v1/policies/admission",
        content=BUNDLE,
        headers={**admin, "Content-Type": "application/yaml"},
    )
    assert applied.status_code == 201 and applied.json() == {"name": "admission", "version": 2}
    wrong = client.put("/api/v1/policies/other", content=BUNDLE, headers=admin)
    assert wrong.status_code == 400 and "named 'admission'" in wrong.json()["message"]
    assert (
        client.put("/api/v1/policies/admission", content="name: [", headers=admin).status_code
        == 400
    )

    evaluated = client.post(
        "/api/v1/policies/admission/evaluate", json={"image": CRITICAL}, headers=admin
    )
    assert evaluated.status_code == 200 and evaluated.json()["outcome"] == "block"

    entry = {"vulnerability": "CVE-2024-1000", "reason": "not reachable", "author": "sec"}
    added = client.post(
        "/api/v1/policies/admission/allowlist", json={"entry": entry}, headers=admin
    )
    assert added.status_code == 201 and added.json()["version"] == 3
    allow = client.get("/api/v1/policies/admission/allowlist", headers=admin).json()
    assert allow == [
        {"policy": "gate", "entry": {**entry, "package": None, "repository": "*", "expires": None}}
    ]
    evaluated = client.post(
        "/api/v1/policies/admission/evaluate", json={"image": CRITICAL}, headers=admin
    ).json()
    assert evaluated["outcome"] == "pass" and evaluated["bundle_version"] == 3
    assert evaluated["allowlisted"][0]["vulnerability"] == "CVE-2024-1000"

    reader = token(engine, Scope.READ)
    assert (
        client.post(
            "/api/v1/policies/admission/allowlist", json={"entry": entry}, headers=reader
        ).status_code
        == 403
    )
    removed = client.delete(
        "/api/v1/policies/admission/allowlist?vulnerability=CVE-2024-1000", headers=admin
    )
    assert removed.json()["version"] == 4
    again = client.delete(
        "/api/v1/policies/admission/allowlist?vulnerability=CVE-2024-1000", headers=admin
    )
    assert again.status_code == 404

    # admission records decisions: the audit trail and the image detail show them
    hook = token(engine, Scope.WEBHOOK)
    client.post("/api/v1/admission", json=review(workload("Pod", pod_spec(CRITICAL))), headers=hook)
    audit = client.get(f"/api/v1/decisions?digest={digest_of('critical')}", headers=reader).json()
    assert [(d["outcome"], d["bundle_version"]) for d in audit] == [("block", 4)]
    since = audit[0]["evaluated_at"]
    assert len(client.get("/api/v1/decisions", params={"since": since}, headers=reader).json()) == 1
    assert client.get("/api/v1/decisions?since=2999-01-01T00:00:00Z", headers=reader).json() == []
    missing = client.post(
        "/api/v1/policies/admission/evaluate",
        json={"image": f"{REG}/x@{digest_of('x')}"},
        headers=reader,
    )
    # unknown digest: is it an index? the registry must say, and it is down
    assert missing.status_code == 503 and "unavailable" in missing.json()["message"]


def test_deleting_a_policy_needs_admin_and_keeps_its_decisions(client, engine, hook):
    client.post("/api/v1/admission", json=review(workload("Pod", pod_spec(HIGH))), headers=hook)
    admin, reader = token(engine, Scope.ADMIN), token(engine, Scope.READ)
    assert client.delete("/api/v1/policies/admission", headers=reader).status_code == 403
    deleted = client.delete("/api/v1/policies/admission", headers=admin)
    assert deleted.status_code == 204
    assert client.get("/api/v1/policies", headers=admin).json() == []
    assert client.get("/api/v1/policies/admission", headers=admin).status_code == 404
    again = client.delete("/api/v1/policies/admission", headers=admin)
    assert again.status_code == 404 and "no policy 'admission'" in again.json()["message"]
    audit = client.get(f"/api/v1/decisions?digest={digest_of('high')}", headers=reader).json()
    assert [(d["bundle"], d["outcome"]) for d in audit] == [("admission", "warn")]
