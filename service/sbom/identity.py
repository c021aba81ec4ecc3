"""What makes two renders of the same catalog byte-identical: id and timestamp."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

from service.catalog.model import Catalog
from service.utc import as_utc

# When the image config has no creation time: a fixed instant, never "now".
FIXED_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def document_uuid(catalog: Catalog, fmt: str) -> uuid.UUID:
    """A UUIDv5 of the image digest, the format and the catalog's content: the same
    catalog always gets the same id, any change to it a new one."""
    content = hashlib.sha256(catalog.model_dump_json().encode()).hexdigest()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"tollgate:{fmt}:{catalog.image.digest}:{content}")


def document_time(created: datetime | None) -> datetime:
    """The image's creation time (UTC, whole seconds), or the fixed epoch."""
    if created is None:
        return FIXED_EPOCH
    return as_utc(created).astimezone(UTC).replace(microsecond=0)
