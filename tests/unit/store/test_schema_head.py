"""A database at the newest migration is opened without loading Alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from service.store.database import SCHEMA_HEAD, head_revision

OPEN_AND_REPORT = (
    "import sys; from service.store.database import make_engine; "
    "make_engine(sys.argv[1]); print('alembic' in sys.modules)"
)


def test_schema_head_names_the_newest_migration() -> None:
    assert head_revision() == SCHEMA_HEAD


def _alembic_loaded(url: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", OPEN_AND_REPORT, url], capture_output=True, text=True, check=True
    )
    return result.stdout.strip() == "True"


def test_a_migrated_database_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tollgate.db'}"
    assert _alembic_loaded(url)  # a new database is migrated by Alembic
    assert not _alembic_loaded(url)  # then found at the newest migration by one query
