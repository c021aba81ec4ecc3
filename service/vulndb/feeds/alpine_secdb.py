"""Alpine secdb importer (``secdb.alpinelinux.org/<release>/<repo>.json`` format).

Each package lists ``secfixes``: fixed apk version → advisory ids fixed there.
A ``0`` key means "never affected in this branch" and yields nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx

from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.documents import DocumentSource
from service.vulndb.records import Advisory, RangeEvent, SkippedRecord, VersionRange, VulnRecord
from service.vulndb.versions import UnparseableVersionError, scheme_for

logger = logging.getLogger(__name__)

SOURCE_LABEL = "tollgate-alpine-secdb"


class AlpineSecdbFeed(Feed):
    """A secdb JSON file, a directory of them (``v3.x/main.json``) or a URL."""

    source = "alpine-secdb"

    def __init__(self, location: str, *, client: httpx.Client | None = None) -> None:
        self._documents = DocumentSource(location, client=client)

    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        for name, raw in self._documents.contents():
            try:
                data = json.loads(raw)
                release, repo = str(data["distroversion"]), str(data["reponame"])
                packages = list(data["packages"] or [])  # null: no fixes yet
            except (ValueError, KeyError, TypeError) as error:
                yield SkippedRecord(ref=name, reason=f"not a secdb document: {error!r}")
                continue
            yield from _records(f"Alpine:{release}", repo, packages, name)


def _records(
    ecosystem: str, repo: str, packages: list[Any], ref: str
) -> Iterator[VulnRecord | SkippedRecord]:
    scheme = scheme_for(ecosystem)
    for entry in packages:
        try:
            name = str(entry["pkg"]["name"])
            secfixes = dict(entry["pkg"].get("secfixes") or {})
        except (KeyError, TypeError, ValueError) as error:
            yield SkippedRecord(ref=ref, reason=f"package entry without pkg.name: {error!r}")
            continue
        fixes: dict[str, tuple[str, set[str]]] = {}  # vuln id -> (lowest fixed version, aliases)
        for version, ids in secfixes.items():
            if str(version) == "0":
                continue
            try:
                key = scheme(str(version))
            except UnparseableVersionError as error:
                yield SkippedRecord(ref=f"{ref}:{name}", reason=str(error))
                continue
            for text in ids or []:
                vuln_id, *names = str(text).split()
                current = fixes.get(vuln_id)
                aliases = set(names) | (current[1] if current else set())
                if current is None or key < scheme(current[0]):
                    current = (str(version), aliases)
                fixes[vuln_id] = (current[0], aliases)
        for vuln_id, (fixed, aliases) in sorted(fixes.items()):
            advisory = Advisory(
                id=vuln_id,
                aliases=tuple(sorted(aliases)),
                source=SOURCE_LABEL,
                ecosystem=ecosystem,
                package=name,
                ranges=(
                    VersionRange(
                        type="ECOSYSTEM",
                        events=(
                            RangeEvent(kind="introduced", version="0"),
                            RangeEvent(kind="fixed", version=fixed),
                        ),
                    ),
                ),
            )
            yield VulnRecord(id=f"{vuln_id}@{ecosystem}/{repo}/{name}", advisories=(advisory,))
