"""The Feed interface and where feed documents are read from (URL, .zip, directory, file)."""

from __future__ import annotations

import logging
import tempfile
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx

from service.errors import VulnDBError
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


class DocumentSource:
    """Raw documents behind a location: an http(s) URL, a ``.zip``, a directory or a file.

    Documents are ``(name, bytes)``; URL content is spooled to a temporary file
    (a zip when it starts with the zip magic, else one document).
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
            for file in sorted(path.rglob(f"*{self.suffix}")):
                yield str(file.relative_to(path)), file.read_bytes()
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
            yield name, stream.read()
            return
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and info.filename.endswith(self.suffix):
                        yield info.filename, archive.read(info)
        except zipfile.BadZipFile as error:
            raise VulnDBError(
                f"{name} is not a valid zip archive: {error}", hint="download the feed again"
            ) from error
