"""Scheduled vulnerability-database update (the feeds ``tollgate db update`` uses)."""

from __future__ import annotations

import logging

from service.cli.db import DEFAULT_OSV_ECOSYSTEMS
from service.errors import VulnDBError
from service.vulndb.feeds.osv import OSVFeed
from service.vulndb.store import VulnStore

logger = logging.getLogger(__name__)


def update_database(db: VulnStore) -> bool:
    """Import every default feed; True when any changed. A failing feed is logged and skipped."""
    changed = False
    for ecosystem in DEFAULT_OSV_ECOSYSTEMS:
        try:
            changed = db.import_feed(OSVFeed(ecosystem)).changed or changed
        except VulnDBError as error:
            logger.warning("feed %s not updated: %s", ecosystem, error)
    return changed
