"""Read one layer blob as a stream: inflate, walk its tar, keep what it contributes.

Nothing is written to disk. gzip is inflated with ISA-L (``isal``) when installed, else
zlib; zstd with ``zstandard``; a plain tar is read as it is. Member names are
normalised as the image filesystem applies them (``./etc/x`` and ``/etc/x`` are
``etc/x``) and resolved inside the root, as ``..`` at the root stays at the root.
"""

from __future__ import annotations

import gzip
import posixpath
import tarfile
import zlib
from pathlib import Path
from typing import IO, cast

import zstandard

from service.errors import ImageError
from service.layers import secrets
from service.layers.model import LayerContents, LayerSecret, SecretKind

try:  # ISA-L inflates gzip about 3x faster than zlib
    from isal.igzip import IGzipFile as _GzipReader
except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
    _GzipReader = gzip.GzipFile  # type: ignore[misc,assignment]

MAX_ENTRIES = 2_000_000  # beyond this a layer is refused: its listing would not fit in memory
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def read_layer(blob: Path, digest: str) -> LayerContents:
    """What the layer stored at ``blob`` contributes to an image."""
    try:
        with (
            blob.open("rb") as raw,
            _inflated(raw) as stream,
            tarfile.open(fileobj=stream, mode="r|") as tar,
        ):
            return _contents(tar, digest, blob.stat().st_size)
    except (tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError) as error:
        raise ImageError(f"layer {digest} is not a readable tar stream: {error}") from error


def _contents(tar: tarfile.TarFile, digest: str, compressed_size: int) -> LayerContents:
    files: dict[str, int] = {}
    whiteouts: list[str] = []
    opaque: list[str] = []
    found: list[LayerSecret] = []
    for count, member in enumerate(tar, start=1):
        if count > MAX_ENTRIES:
            raise ImageError(f"layer {digest} has more than {MAX_ENTRIES} entries: refusing it")
        path = _normalised(member.name)
        if path is None or member.isdir():
            continue
        directory, name = posixpath.split(path)
        if name == OPAQUE:
            opaque.append(directory)
        elif name.startswith(WHITEOUT + WHITEOUT):
            continue  # other AUFS metadata (.wh..wh.plnk): not part of the tree
        elif name.startswith(WHITEOUT):
            whiteouts.append(posixpath.join(directory, name[len(WHITEOUT) :]))
        else:
            size = member.size if member.isreg() else 0
            files[path] = size
            kind = _secret(tar, member, path, size)
            if kind is not None:
                found.append(LayerSecret(path=path, kind=kind))
    return LayerContents(
        digest=digest,
        compressed_size=compressed_size,
        files=files,
        whiteouts=tuple(whiteouts),
        opaque=tuple(opaque),
        secrets=tuple(found),
    )


def _secret(
    tar: tarfile.TarFile, member: tarfile.TarInfo, path: str, size: int
) -> SecretKind | None:
    if not member.isreg():
        return None
    content = None
    if secrets.wanted(path, size):
        handle = tar.extractfile(member)
        content = handle.read() if handle is not None else b""
    return secrets.classify(path, content)


def _normalised(name: str) -> str | None:
    path = posixpath.normpath("/" + name).lstrip("/")
    return path or None


def _inflated(raw: IO[bytes]) -> IO[bytes]:
    head = raw.read(len(_ZSTD_MAGIC))
    raw.seek(0)
    if head.startswith(_GZIP_MAGIC):
        return cast(IO[bytes], _GzipReader(fileobj=raw, mode="rb"))  # type: ignore[no-untyped-call]
    if head.startswith(_ZSTD_MAGIC):
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return cast(IO[bytes], reader)
    return raw
