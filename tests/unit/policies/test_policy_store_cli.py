"""The policy store on a real SQLite database, and ``tollgate policy`` end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from policies.engine import evaluate_bundle
from policies.loader import load_bundle
from policies.model import ScanState
from service.cli.policy import app
from service.errors import NotFoundError
from service.settings import get_settings
from service.store.database import make_engine
from service.store.policies import PolicyStore
from tests.unit.policies.policy_helpers import NOW, subject

DEFAULT_BUNDLE = Path(__file__).parents[3] / "policies" / "bundles" / "default.yaml"


@pytest.fixture
def store(tmp_path: Path) -> PolicyStore:
    return PolicyStore(make_engine(f"sqlite:///{tmp_path / 'tollgate.db'}"))


def test_apply_keeps_every_version(store: PolicyStore) -> None:
    bundle = load_bundle(DEFAULT_BUNDLE)
    first = store.apply(bundle, author="alice", now=NOW)
    changed = bundle.model_copy(update={"description": "tightened"})
    second = store.apply(changed, author="bob", now=NOW + timedelta(hours=1))
    assert (first.version, second.version) == (1, 2)
    assert store.get("default") == second
    assert store.get("default", 1) == first
    assert [(v.version, v.author) for v in store.versions()] == [(1, "alice"), (2, "bob")]
    with pytest.raises(NotFoundError):
        store.get("default", 3)


def test_decisions_are_recorded_by_digest(store: PolicyStore) -> None:
    bundle = store.apply(load_bundle(DEFAULT_BUNDLE), author="alice", now=NOW)
    decision = evaluate_bundle(bundle, subject(scan=ScanState.UNSCANNED), now=NOW)
    store.record(decision)
    assert store.decisions(decision.digest) == [decision]
    assert store.decisions("sha256:" + "00" * 32) == []


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("TOLLGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_cli_apply_list_show_eval(cli_env: CliRunner, tmp_path: Path) -> None:
    applied = cli_env.invoke(app, ["apply", str(DEFAULT_BUNDLE), "--author", "alice"])
    assert applied.exit_code == 0, applied.output
    assert "applied default version 1" in applied.output

    listed = cli_env.invoke(app, ["list"])
    assert listed.exit_code == 0 and "default\tv1\t" in listed.output and "alice" in listed.output

    shown = cli_env.invoke(app, ["show", "default"])
    assert shown.exit_code == 0
    exported = tmp_path / "exported.yaml"
    exported.write_text(shown.output)
    assert yaml.safe_load(shown.output)["version"] == 1
    assert load_bundle(exported).model_copy(update={"version": None}) == load_bundle(DEFAULT_BUNDLE)

    unscanned = tmp_path / "unscanned.json"
    unscanned.write_text(subject(scan=ScanState.UNSCANNED).model_dump_json())
    blocked = cli_env.invoke(app, ["eval", "default", "--input", str(unscanned), "--record"])
    assert blocked.exit_code == 1
    decision = json.loads(blocked.output)
    assert decision["outcome"] == "block" and decision["bundle_version"] == 1


def test_cli_reports_bad_input(cli_env: CliRunner, tmp_path: Path) -> None:
    cli_env.invoke(app, ["apply", str(DEFAULT_BUNDLE)])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"reference": "x"}))
    result = cli_env.invoke(app, ["eval", "default", "--input", str(bad)])
    assert result.exit_code != 0
    assert "not an evaluation input" in str(result.exception)
