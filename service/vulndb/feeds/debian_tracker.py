"""Debian security-tracker DSA/DLA list importer (``data/DSA/list``, ``data/DLA/list``).

Entries look like::

    [29 Mar 2023] DSA-5380-1 xorg-server - security update
    \t{CVE-2023-1393}
    \t[bullseye] - xorg-server 2:1.20.11-1+deb11u6

Each CVE becomes one record with, per (release, source package), the lowest
fixed version announced; ``<not-affected>`` and other ``<...>`` states add nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from service.vulndb.feeds.base import Feed
from service.vulndb.feeds.documents import DocumentSource
from service.vulndb.records import Advisory, RangeEvent, SkippedRecord, VersionRange, VulnRecord
from service.vulndb.versions import UnparseableVersionError, scheme_for

logger = logging.getLogger(__name__)

SOURCE_LABEL = "tollgate-debian-tracker"

RELEASES = {
    "trixie": "13",
    "bookworm": "12",
    "bullseye": "11",
    "buster": "10",
    "stretch": "9",
    "jessie": "8",
    "wheezy": "7",
    "squeeze": "6",
    "lenny": "5",
    "etch": "4",
    "sarge": "3.1",
    "woody": "3.0",
}

_HEADER = re.compile(r"^\[(\d{1,2} \w{3} \d{4})\]\s+((?:DSA|DLA)-\d+(?:-\d+)?)")
_CVES = re.compile(r"^\s+\{([^}]*)\}")
_FIX = re.compile(r"^\s+\[(\w+)\]\s+-\s+(\S+)\s+(\S+)")


@dataclass
class _Fix:
    version: str
    advisory: str
    date: datetime


class DebianTrackerFeed(Feed):
    """One DSA or DLA list (``kind`` is ``dsa`` or ``dla``), from a path or URL."""

    def __init__(self, kind: str, location: str, *, client: httpx.Client | None = None) -> None:
        self.source = f"debian-{kind.lower()}"
        self._documents = DocumentSource(location, suffix="list", client=client)

    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        for name, raw in self._documents.contents():
            yield from parse_list(raw.decode("utf-8", errors="replace"), name)


def parse_list(text: str, ref: str) -> Iterator[VulnRecord | SkippedRecord]:
    vulns: dict[str, dict[tuple[str, str], _Fix]] = {}
    scheme = scheme_for("Debian")
    advisory, date, cves = "", datetime.min.replace(tzinfo=UTC), list[str]()
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            advisory, cves = header[2], []
            date = datetime.strptime(header[1], "%d %b %Y").replace(tzinfo=UTC)
        elif ids := _CVES.match(line):
            cves = [i for i in ids[1].split() if i.startswith("CVE-")]
        elif (fix := _FIX.match(line)) and advisory:
            release, package, version = fix[1], fix[2], fix[3]
            if version.startswith("<"):
                continue
            if release not in RELEASES:
                yield SkippedRecord(ref=f"{ref}:{number}", reason=f"unknown release {release!r}")
                continue
            try:
                key = scheme(version)
            except UnparseableVersionError as error:
                yield SkippedRecord(ref=f"{ref}:{number}", reason=str(error))
                continue
            for vuln_id in cves or [advisory]:
                fixes = vulns.setdefault(vuln_id, {})
                slot = (f"Debian:{RELEASES[release]}", package)
                known = fixes.get(slot)
                if known is None or key < scheme(known.version):
                    fixes[slot] = _Fix(version, advisory, date)
    # DSA/DLA ids are not aliases: one advisory fixes several CVEs, which must stay apart.
    for vuln_id, fixes in sorted(vulns.items()):
        yield VulnRecord(
            id=vuln_id,
            advisories=tuple(
                Advisory(
                    id=vuln_id,
                    source=SOURCE_LABEL,
                    ecosystem=ecosystem,
                    package=package,
                    published=fix.date,
                    summary=f"fixed in {fix.advisory}",
                    ranges=(
                        VersionRange(
                            type="ECOSYSTEM",
                            events=(
                                RangeEvent(kind="introduced", version="0"),
                                RangeEvent(kind="fixed", version=fix.version),
                            ),
                        ),
                    ),
                )
                for (ecosystem, package), fix in sorted(fixes.items())
            ),
        )
