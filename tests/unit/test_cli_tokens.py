"""``tollgate token create|list|revoke`` and what ``tollgate serve`` refuses or logs."""

from __future__ import annotations

import logging
from pathlib import Path

from service.cli.service import drop_query_strings
from tests.support.cli import run_tollgate


def test_tokens_are_created_with_a_lifetime_listed_and_revoked(tmp_path: Path) -> None:
    created = run_tollgate(
        ["token", "create", "--scope", "scan", "--name", "ci", "--expires-in", "2d"], tmp_path
    )
    assert created.returncode == 0, created.stderr
    summary, secret = created.stdout.strip().splitlines()
    assert summary.startswith("created token 1 with scopes scan, expiring 20")
    assert secret.startswith("tg_")

    listed = run_tollgate(["token", "list"], tmp_path).stdout.splitlines()
    assert listed[0].split() == [
        "ID",
        "NAME",
        "SCOPES",
        "CREATED",
        "EXPIRES",
        "LAST",
        "USED",
        "STATE",
    ]
    assert listed[1].split()[:3] == ["1", "ci", "scan"] and listed[1].endswith("active")
    assert secret not in "\n".join(listed)

    assert run_tollgate(["token", "revoke", "1"], tmp_path).stdout.strip() == "revoked token 1"
    assert run_tollgate(["token", "list"], tmp_path).stdout.splitlines()[1].endswith("revoked")


def test_token_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    unknown = run_tollgate(["token", "revoke", "7"], tmp_path)
    assert unknown.returncode == 2 and unknown.stderr.strip().endswith(
        "there is no token 7 (see `tollgate token list`)"
    )
    bad = run_tollgate(["token", "create", "--scope", "read", "--expires-in", "soon"], tmp_path)
    assert bad.returncode == 2 and "not a token lifetime" in bad.stderr


def test_serve_refuses_a_short_webhook_secret_beyond_loopback(tmp_path: Path) -> None:
    refused = run_tollgate(
        ["serve", "--host", "0.0.0.0", "--port", "1"], tmp_path, {"TOLLGATE_WEBHOOK_SECRET": "s"}
    )
    assert refused.returncode == 2 and "needs 32 or more" in refused.stderr


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/v1/images/x/sbom?format=spdx&token=tg_secret", "1.1", 200),
        None,
    )
    assert drop_query_strings(record)
    assert record.getMessage() == '127.0.0.1:5 - "GET /api/v1/images/x/sbom HTTP/1.1" 200'
