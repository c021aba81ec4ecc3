"""Where feed documents are read from: an http(s) URL, a ``.zip``, a directory or a file
(each document may be gzip-compressed), each with a digest of its content taken before
it is decompressed or parsed, so an import can leave alone the documents it has read."""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import httpx
from isal import igzip, isal_zlib

from service.errors import VulnDBError

_inflate: Callable[[bytes], bytes] = igzip.decompress
# isal's stubs declare its error class as an instance
_INFLATE_ERRORS = (OSError, EOFError, cast("type[Exception]", isal_zlib.error))


@dataclass(frozen=True)
class Document:
    """One feed document: its name in the source, a digest of its content, and the
    content (decompressed) read only when asked."""

    name: str
    digest: str
    _read: Callable[[], bytes]

    def content(self) -> bytes:
        return _gunzipped(self._read())


class DocumentSource:
    """Raw documents behind a location: an http(s) URL, a ``.zip``, a directory or a file.

    URL content is spooled to a temporary file (a zip when it starts with the zip magic,
    else one document). Files named ``*{suffix}.gz`` count too. A file's digest is the
    SHA-256 of its bytes as stored; a zip member's is the CRC-32 and size the archive
    records for it, so unchanged members of a large archive are not even decompressed.
    """

    def __init__(
        self, location: str, *, suffix: str = ".json", client: httpx.Client | None = None
    ) -> None:
        self.location = location
        self.suffix = suffix
        self._client = client

    def documents(self) -> Iterator[Document]:
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
                    yield _whole(str(file.relative_to(path)), file.read_bytes())
        elif path.is_file():
            with path.open("rb") as stream:
                yield from self._from_stream(str(path), stream)
        else:
            raise VulnDBError(
                f"feed location {self.location} does not exist",
                hint="pass an http(s) URL, a .zip, a directory or a file",
            )

    def contents(self) -> Iterator[tuple[str, bytes]]:
        """Every document's name and content."""
        return ((document.name, document.content()) for document in self.documents())

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

    def _from_stream(self, name: str, stream: IO[bytes]) -> Iterator[Document]:
        if stream.read(4) != b"PK\x03\x04":
            stream.seek(0)
            yield _whole(name, stream.read())
            return
        stream.seek(0)
        try:
            with zipfile.ZipFile(stream) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and info.filename.endswith(self.suffix):
                        digest = f"zip-crc32:{info.CRC:08x}:{info.file_size}"
                        yield Document(info.filename, digest, _member(archive, info))
        except zipfile.BadZipFile as error:
            raise VulnDBError(
                f"{name} is not a valid zip archive: {error}", hint="download the feed again"
            ) from error


def _whole(name: str, data: bytes) -> Document:
    return Document(name, f"sha256:{hashlib.sha256(data).hexdigest()}", lambda: data)


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            return archive.read(info)
        except zipfile.BadZipFile as error:  # a CRC mismatch: the archive is corrupt
            raise VulnDBError(
                f"{info.filename} is corrupt in its archive: {error}",
                hint="download the feed again",
            ) from error

    return read


def _gunzipped(data: bytes) -> bytes:
    """``data`` decompressed when it is gzip (ISA-L's inflate: twice zlib's speed, and a
    yearly NVD feed is hundreds of megabytes)."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        return _inflate(data)
    except _INFLATE_ERRORS as error:
        raise VulnDBError(
            f"a gzip-compressed feed document is corrupt: {error}", hint="download it again"
        ) from error
