"""``/api/v1/tokens``: admins list, create and revoke tokens; nobody else may."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from service.auth.tokens import Scope
from tests.unit.api.conftest import token


def test_an_admin_creates_lists_and_revokes_a_token(client, admin) -> None:
    created = client.post(
        "/api/v1/tokens",
        json={"name": "ci", "scopes": ["scan", "read"], "expires_in_seconds": 3600},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    issued = created.json()
    bearer = {"Authorization": f"Bearer {issued['token']}"}
    assert client.get("/api/v1/scans/none", headers=bearer).status_code == 404  # it works

    listed = {t["id"]: t for t in client.get("/api/v1/tokens", headers=admin).json()}
    mine = listed[issued["id"]]
    assert mine["name"] == "ci" and mine["scopes"] == ["read", "scan"] and not mine["revoked"]
    expires = datetime.fromisoformat(mine["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(minutes=1)
    assert mine["last_used_at"] is not None
    assert "token" not in mine and "token_hash" not in mine

    assert client.delete(f"/api/v1/tokens/{issued['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/scans/none", headers=bearer).status_code == 401
    assert client.delete("/api/v1/tokens/9999", headers=admin).status_code == 404


def test_without_a_lifetime_a_development_token_never_expires(client, admin) -> None:
    created = client.post("/api/v1/tokens", json={"name": "x", "scopes": ["read"]}, headers=admin)
    listed = client.get("/api/v1/tokens", headers=admin).json()
    assert [t["expires_at"] for t in listed if t["id"] == created.json()["id"]] == [None]


def test_only_admins_manage_tokens(client, engine: Engine) -> None:
    scanner = token(engine, Scope.SCAN)
    assert client.get("/api/v1/tokens", headers=scanner).status_code == 403
    body = {"name": "x", "scopes": ["admin"]}
    assert client.post("/api/v1/tokens", json=body, headers=scanner).status_code == 403
    assert client.delete("/api/v1/tokens/1", headers=scanner).status_code == 403
    assert client.get("/api/v1/tokens").status_code == 401


def test_unknown_scopes_are_refused(client, admin) -> None:
    body = {"name": "x", "scopes": ["root"]}
    assert client.post("/api/v1/tokens", json=body, headers=admin).status_code == 422
