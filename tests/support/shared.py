"""Where the read-only shared test data lives: ``../shared`` next to the project root."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED = PROJECT_ROOT.parent / "shared"
VULNDATA = SHARED / "vulndata"

if not VULNDATA.is_dir():  # pragma: no cover - a broken checkout, not a test outcome
    raise RuntimeError(f"shared test data missing: expected {VULNDATA} (see ../shared/README.md)")
