"""Request limits: authentication before the body is read, bounded bodies, bounded nesting."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from service.api.errors import HARBOR_ERROR_TYPE
from service.api.limits import MAX_JSON_DEPTH, BodyLimits, RequestGuard, _check_json_depth
from service.auth.tokens import Scope, TokenAuthority
from service.errors import RequestLimitError
from service.secret import Secret
from service.store.tokens import TokenStore
from tests.unit.admission.reviews import pod_spec, review, workload
from tests.unit.api.conftest import WEBHOOK_SECRET, token

MIB = 1 << 20


def test_a_body_over_the_limit_is_refused_with_413(client, engine: Engine) -> None:
    scanner = token(engine, Scope.SCAN)
    big = json.dumps({"image": "127.0.0.1:5000/a:1", "pad": "x" * MIB})
    answer = client.post("/api/v1/scans", content=big, headers=scanner)
    assert answer.status_code == 413
    assert "TOLLGATE_API_MAX_BODY_BYTES" in answer.json()["hint"]


def test_admission_reviews_may_be_up_to_3_mib(client, engine: Engine) -> None:
    hook = token(engine, Scope.WEBHOOK)
    body = review(workload("Pod", pod_spec("127.0.0.1:5000/a:1")))
    body["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * (2 * MIB)}
    assert client.post("/api/v1/admission", json=body, headers=hook).status_code == 200
    body["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * (3 * MIB)}
    assert client.post("/api/v1/admission", json=body, headers=hook).status_code == 413


def test_the_harbor_adapter_is_limited_and_answers_in_its_error_format(client, engine) -> None:
    answer = client.post(
        "/harbor/api/v1/scan", content=b"{" + b" " * MIB + b"}", headers=token(engine, Scope.SCAN)
    )
    assert answer.status_code == 413
    assert answer.headers["content-type"] == HARBOR_ERROR_TYPE


def test_json_nested_deeper_than_the_bound_is_refused(client, engine: Engine) -> None:
    deep = "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1)
    answer = client.post(
        "/api/v1/webhooks/distribution", content=deep, headers=token(engine, Scope.WEBHOOK)
    )
    assert answer.status_code == 400 and "nests deeper" in answer.json()["message"]
    # brackets inside strings do not count
    flat = json.dumps({"events": [], "note": "[" * 1000})
    answer = client.post(
        "/api/v1/webhooks/distribution", content=flat, headers=token(engine, Scope.WEBHOOK)
    )
    assert answer.status_code == 202


# -- the middleware alone: what it reads, and when ------------------------------------------


class Exchange:
    """One request through a RequestGuard in front of an app that records what reached it."""

    def __init__(self, engine: Engine, limits: BodyLimits | None = None) -> None:
        self.reached: list[bytes] = []
        self.reads = 0
        self.sent: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            message = await receive()
            self.reached.append(message["body"])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        authority = TokenAuthority(TokenStore(engine), Secret(WEBHOOK_SECRET))
        self.guard = RequestGuard(app, authority=authority, limits=limits or BodyLimits())

    def post(self, chunks: list[bytes], headers: dict[str, str]) -> int:
        async def receive() -> dict[str, Any]:
            self.reads += 1
            index = self.reads - 1
            return {
                "type": "http.request",
                "body": chunks[index],
                "more_body": index + 1 < len(chunks),
            }

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/api/v1/webhooks/distribution",
            "raw_path": b"/api/v1/webhooks/distribution",
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        }
        asyncio.run(self.guard(scope, receive, send))
        status: int = self.sent[0]["status"]
        return status


def test_an_unauthenticated_body_is_never_read(engine: Engine) -> None:
    exchange = Exchange(engine)
    assert exchange.post([b"x" * 1000] * 100, {}) == 401
    assert exchange.post([b"{}"], {"Authorization": "Bearer tg_wrong"}) == 401
    assert exchange.reads == 0 and exchange.reached == []


def test_a_streamed_body_is_cut_off_at_the_limit(engine: Engine) -> None:
    exchange = Exchange(engine, BodyLimits(api=10_000))
    secret = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    assert exchange.post([b"x" * 4096] * 100, secret) == 413  # no Content-Length: counted
    assert exchange.reads == 3 and exchange.reached == []


def test_a_declared_length_over_the_limit_is_refused_before_reading(engine: Engine) -> None:
    exchange = Exchange(engine, BodyLimits(api=10_000))
    headers = {"Authorization": f"Bearer {WEBHOOK_SECRET}", "Content-Length": "10001"}
    assert exchange.post([b"x"], headers) == 413
    assert exchange.reads == 0


def test_a_body_within_the_limit_reaches_the_app_whole(engine: Engine) -> None:
    exchange = Exchange(engine, BodyLimits(api=10_000))
    secret = {"Authorization": f"Bearer {WEBHOOK_SECRET}"}
    assert exchange.post([b'{"a": ', b"[1, 2]}"], secret) == 204
    assert exchange.reached == [b'{"a": [1, 2]}']


def test_the_nesting_bound_counts_levels_exactly_and_ignores_strings() -> None:
    def nested(depth: int) -> bytes:
        return b'[{"a": ' * (depth // 2) + b"[1]" * (depth % 2) + b"}]" * (depth // 2)

    _check_json_depth(nested(MAX_JSON_DEPTH))
    _check_json_depth(json.dumps({"s": '[{\\"' * 500, "t": "\\"}).encode())
    with pytest.raises(RequestLimitError, match="nests deeper"):
        _check_json_depth(nested(MAX_JSON_DEPTH + 1))
