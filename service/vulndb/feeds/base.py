"""The feed interfaces (advisories; facts about CVEs) and where feed documents are read
from (URL, .zip, directory, file; each may be gzip-compressed)."""

from __future__ import annotations

import gzip
import logging
import tempfile
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from service.errors import VulnDBError
from service.vulndb.cve import CveFacts
from service.vulndb.records import SkippedRecord, VulnRecord

logger = logging.getLogger(__name__)


class Feed(ABC):
    """An advisory source; ``source`` names it in the store (one import replaces its records).

    A ``complete`` feed yields every record of its source on each import, so a stored
    record it no longer yields is gone upstream and is removed; an incomplete one (a
    directory or file of some records) only adds and updates."""

    source: str
    complete: bool = False

    @abstractmethod
    def records(self) -> Iterator[VulnRecord | SkippedRecord]:
        """Every record of the feed; malformed ones as SkippedRecord, never an exception."""


class CveFeed(ABC):
    """A source of facts keyed by CVE id (NVD, CVE records, KEV, EPSS) that enrich every
    advisory aliasing the CVE; ``complete`` as for :class:`Feed`."""

    source: str
    complete: bool = False

    @abstractmethod
    def records(self) -> Iterator[CveFacts | SkippedRecord]:
        """Every record of the feed; malformed ones as SkippedRecord, never an exception."""


AnyFeed = Feed | CveFeed


class DocumentSource:
    """Raw documents behind a location: an http(s) URL, a ``.zip``, a directory or a file.

    Documents are ``(name, bytes)``; URL content is spooled to a temporary file
    (a zip when it starts with the zip magic, else one document). Files named
    ``*{suffix}.gz`` count too; gzip-compressed documents are decompressed.
    """

    def __init__(
        self, location: str, *, suffix: str = ".json", client: httpx.Client | None = None
    ) -> None:
        self.location = location
        self.suffix = suffix
        self._client = client

    def documents(self) -> Iterator[tuple[str, bytes]]:
        if self.location.startswith(("http://", "https://")):
            with tempfile.TemporaryFile() as spool:
                self._download(spool)
                spool.seek(0)
                yield from self._from_stream(self.location, spool)
            return
        path = Path(self.location)
        if path.is_dir():
            for file in sorted(path.rglob(f"*{self.suffix}*")):
                if file.name.endswith((self.suffix, f"{self.suffix}.gz")):
                    yield str(file.relative_to(path)), _gunzipped(file.read_bytes())
        elif path.is_file():
            with path.open("rb") as stream:
                yield from self._from_stream(str(path), stream)
        else:
            raise VulnDBError(
                f"feed location {self.location} does not exist",
                hint="pass an http(s) URL, a .zip, a directory or a file",
            )

    def _download(self, spool: IO[bytes]) -> None:
        client = self._client or httpx.Client(timeout=120.0, follow_redirects=True)
        try:
            with client.stream("GET", self.location) as response:
                response.raise_for_status()
                for chunk in response.iter_bytes():
                    spool.write(chunk)
        except httpx.HTTPError as error:
            raise VulnDBError(
                f"could not download {self.location}: {error}",
                hint="check the URL and network access, or pass a local path",
            ) from error
        finally:
            if self._client is None:
                client.close()

    def _from_stream(self, name: str, stream: IO[bytes]) -> Iterator[tuple[str, bytes]]:
        if stream.read(4) != b"PK\x03\x04":
            stream.seek(0)
            yield name, _gunzipped(stream.read())
            return
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and info.filename.endswith(self.suffix):
                        yield info.filename, _gunzipped(archive.read(info))
        except zipfile.BadZipFile as error:
            raise VulnDBError(
                f"{name} is not a valid zip archive: {error}", hint="download the feed again"
            ) from error


def _gunzipped(data: bytes) -> bytes:
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as error:
        raise VulnDBError(
            f"a gzip-compressed feed document is corrupt: {error}", hint="download it again"
        ) from error
