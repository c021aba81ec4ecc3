"""``tollgate db update`` / ``status`` against local feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from service.catalog.model import PackageType
from service.cli.db import app
from service.settings import get_settings
from service.store.catalogs import CatalogStore
from service.store.database import engine_from_settings
from service.vulndb.ecosystems import matchable
from tests.unit.vulndb.realdata import VULNDATA, make_catalog, pkg


@pytest.fixture
def settings_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOLLGATE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite'}")
    monkeypatch.setenv("TOLLGATE_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("settings_env")
def test_update_then_status() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["status"]).exit_code == 1  # empty database
    catalog = make_catalog([pkg("lodash", "4.17.11", PackageType.NPM)])
    CatalogStore(engine_from_settings()).save(catalog, matchable(catalog))
    result = runner.invoke(
        app,
        [
            "update",
            "--source",
            f"npm={VULNDATA / 'osv' / 'npm'}",
            "--source",
            f"alpine-secdb={VULNDATA / 'alpine' / 'secdb-legacy' / 'v3.11'}",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "re-evaluated 1 images: 1 gained findings, 0 lost findings" in result.output
    again = runner.invoke(app, ["update", "--source", f"npm={VULNDATA / 'osv' / 'npm'}"])
    assert "no advisory changed" in again.output
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0
    assert "npm" in status.output and "Alpine:v3.11" in status.output


@pytest.mark.usefixtures("settings_env")
def test_unknown_source_is_an_actionable_error() -> None:
    result = CliRunner().invoke(app, ["update", "--source", "cobol=/tmp/x"])
    assert result.exit_code != 0
    assert "unknown feed" in str(result.exception)


@pytest.mark.usefixtures("settings_env")
def test_left_out_entries_are_reported_by_update_and_status(tmp_path: Path) -> None:
    feed = tmp_path / "feed"
    feed.mkdir()
    for path in (VULNDATA / "osv" / "mixed-ranges").glob("*.yaml"):
        (feed / f"{path.stem}.json").write_text(json.dumps(yaml.safe_load(path.read_text())))
    runner = CliRunner()
    result = runner.invoke(app, ["update", "--source", f"PyPI={feed}"])
    assert result.exit_code == 0, result.output
    left_out = (
        "2 affected entries left out (no version range or version: 1, unsupported ecosystem: 1)"
    )
    assert f"0 skipped; {left_out}" in result.output
    assert left_out in runner.invoke(app, ["status"]).output
