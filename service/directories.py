"""The directories Tollgate keeps its data in: created on first use, or a clear error."""

from __future__ import annotations

from pathlib import Path

from service.errors import ConfigurationError


def ensure_directory(path: Path, what: str) -> None:
    """Create ``path`` (and its parents) unless it exists; ``what`` names it for the user."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(
            f"cannot create the {what} directory {path}: {error.strerror or error}",
            hint="point TOLLGATE_DATA_DIR (or TOLLGATE_CACHE_DIR, TOLLGATE_DATABASE_URL) "
            "at a directory Tollgate may write",
        ) from error
