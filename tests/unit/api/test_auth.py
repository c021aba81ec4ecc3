from __future__ import annotations

import hashlib
import hmac
import json

from service.auth.tokens import SIGNATURE_HEADER, Scope
from tests.unit.api.conftest import WEBHOOK_SECRET, TestClient, token


def test_probes_are_open_and_everything_else_needs_a_token(client: TestClient):
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    for path in ("/metrics", "/api/v1/images", "/api/v1/dashboard/summary"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert "tollgate token create" in response.json()["hint"]


def test_scopes_are_enforced(client: TestClient, engine):
    reader = token(engine, Scope.READ)
    assert client.get("/api/v1/images", headers=reader).status_code == 200
    response = client.post("/api/v1/scans", json={"image": "127.0.0.1:5000/a:1"}, headers=reader)
    assert response.status_code == 403
    assert "scan" in response.json()["message"]
    assert (
        client.get("/api/v1/images", headers={"Authorization": "Bearer tg_wrong"}).status_code
        == 401
    )


def test_webhook_secret_only_opens_webhooks(client: TestClient):
    secret = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    response = client.post(
        "/api/v1/webhooks/distribution", content=b'{"events": []}', headers=secret
    )
    assert response.status_code == 202
    assert client.get("/api/v1/images", headers=secret).status_code == 403


def test_tokens_are_stored_hashed(engine):
    from sqlmodel import Session, select

    from service.store.tokens import TokenRow

    header = token(engine, Scope.READ)
    presented = header["Authorization"].removeprefix("Bearer ")
    with Session(engine) as session:
        rows = session.exec(select(TokenRow)).all()
    assert len(rows) == 1 and presented not in rows[0].token_hash and rows[0].scopes == "read"


def _signed(body: bytes, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {SIGNATURE_HEADER: f"sha256={digest}", "Content-Type": "application/json"}


def test_a_delivery_signed_with_the_webhook_secret_needs_no_bearer_token(client: TestClient):
    body = b'{"events": []}'
    response = client.post("/api/v1/webhooks/distribution", content=body, headers=_signed(body))
    assert response.status_code == 202
    harbor = client.post("/api/v1/webhooks/harbor", content=body, headers=_signed(body))
    assert harbor.status_code == 400  # authenticated, then refused as no Harbor event


def test_a_tampered_or_wrongly_signed_delivery_is_refused(client: TestClient):
    body = b'{"events": []}'
    for content, headers in (
        (b'{"events": [] }', _signed(body)),  # the body changed after signing
        (body, _signed(body, secret="another-secret-0123456789")),
        (body, {SIGNATURE_HEADER: "sha1=0000", "Content-Type": "application/json"}),
    ):
        response = client.post("/api/v1/webhooks/distribution", content=content, headers=headers)
        assert response.status_code == 401
        assert WEBHOOK_SECRET not in response.text


def test_a_signature_opens_only_the_webhooks(client: TestClient):
    body = json.dumps({"image": "127.0.0.1:5000/a:1"}).encode()
    response = client.post("/api/v1/scans", content=body, headers=_signed(body))
    assert response.status_code == 401


def test_a_signed_body_is_bounded_before_it_is_checked(client: TestClient):
    body = b'{"events": [' + b" " * (2 << 20) + b"]}"
    response = client.post("/api/v1/webhooks/distribution", content=body, headers=_signed(body))
    assert response.status_code == 413


def test_a_request_the_guard_authenticated_is_not_checked_again(client: TestClient, engine):
    """The guard hands the route who it found the caller to be: one check per request."""
    authority = client.app.state.context.authority  # type: ignore[attr-defined]
    calls = {"token": 0, "signature": 0}
    by_token, by_signature = authority.authenticate, authority.authenticate_signed

    def counted_token(presented: str | None):  # type: ignore[no-untyped-def]
        calls["token"] += 1
        return by_token(presented)

    def counted_signature(body: bytes, signature: str):  # type: ignore[no-untyped-def]
        calls["signature"] += 1
        return by_signature(body, signature)

    authority.authenticate, authority.authenticate_signed = counted_token, counted_signature
    scanner = token(engine, Scope.SCAN)
    client.post("/api/v1/scans", json={"image": "127.0.0.1:5000/a:1"}, headers=scanner)
    body = b'{"events": []}'
    response = client.post("/api/v1/webhooks/distribution", content=body, headers=_signed(body))
    assert response.status_code == 202
    assert calls == {"token": 1, "signature": 1}
