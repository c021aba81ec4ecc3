"""Members copied from one tar stream to another, renamed: tarfile reads the copy back
with the new names, the same types, link targets and content, in every header format;
a member's own header is kept (owner, mode, time) where its fields hold the new name."""

from __future__ import annotations

import io
import tarfile

import pytest

from service.layers.tarcopy import TarCopy
from service.layers.tarstream import TarStream
from tests.unit.layers.test_tarstream import LONG, _members


def _copied(archive: bytes, rename: str = "copy/") -> bytes:
    out = io.BytesIO()
    copy = TarCopy(out)
    walk = TarStream(io.BytesIO(archive))
    for member in walk:
        if member.isdir():
            continue
        content = io.BytesIO(walk.read()) if member.isreg() else None
        size = member.size if member.isreg() else 0
        copy.add(member, rename + member.name, content=content, size=size)
    copy.close()
    return out.getvalue()


def _listed(archive: bytes) -> list[tuple[str, bytes, str, bytes | None, str, int]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r|") as tar:
        return [
            (
                m.name,
                m.type,
                m.linkname,
                tar.extractfile(m).read() if m.isreg() else None,  # type: ignore[union-attr]
                m.uname,
                m.mode,
            )
            for m in tar
            if not m.isdir()
        ]


@pytest.mark.parametrize("formats", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_a_copy_reads_back_as_the_members_renamed(formats: int) -> None:
    original = _members(formats)
    copy = _copied(original)
    expected = [("copy/" + name, *rest) for name, *rest in _listed(original)]
    assert _listed(copy) == expected
    assert len(copy) % (20 * 512) == 0 and copy.endswith(bytes(1024))
    if formats != tarfile.USTAR_FORMAT:  # a name past 100 bytes: a PAX header says it
        assert f"copy/{LONG}" in {name for name, *_ in _listed(copy)}


def test_a_short_ascii_name_keeps_the_members_own_header() -> None:
    info = tarfile.TarInfo("./usr/bin/tool")
    info.uname, info.mtime, info.mode, info.size = "builder", 1_700_000_000, 0o4755, 3
    original = info.tobuf(tarfile.GNU_FORMAT) + b"abc".ljust(512, b"\0") + bytes(1024)
    [member] = list(TarStream(io.BytesIO(original)))
    out = io.BytesIO()
    TarCopy(out).add(member, "usr/bin/tool", content=io.BytesIO(b"abc"), size=3)
    header = out.getvalue()[:512]
    assert header[100:124] == member.header[100:124]  # mode, uid, gid
    assert header[136:148] == member.header[136:148]  # mtime
    assert header[257:345] == member.header[257:345]  # magic, owner names
    copied = tarfile.TarInfo.frombuf(header, "utf-8", "surrogateescape")  # checksum checked
    assert (copied.name, copied.size, copied.uname) == ("usr/bin/tool", 3, "builder")


def test_content_shorter_than_its_size_is_an_error() -> None:
    [member] = list(TarStream(io.BytesIO(_one_file())))
    with pytest.raises(tarfile.ReadError, match="short"):
        TarCopy(io.BytesIO()).add(member, "f", content=io.BytesIO(b"ab"), size=3)


def _one_file() -> bytes:
    info = tarfile.TarInfo("f")
    info.size = 3
    return info.tobuf(tarfile.USTAR_FORMAT) + b"abc".ljust(512, b"\0") + bytes(1024)
