"""The layer tar walker against Python's tarfile and GNU tar, on every header format.

tarfile is the oracle for names, types, sizes and link names; GNU tar writes the
archives a real build tool writes (including sparse files, which are only stepped over).
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from service.layers import tarstream
from service.layers.tarstream import TarStream

LONG = "d" * 90 + "/" + "e" * 90 + "/" + "f" * 120  # past both ustar name and prefix
# Go's archive/tar testdata/neg-size.tar.base64 (BSD licence): a header whose size is
# negative in base-256; Go's reader refuses it with ErrHeader.
GO_NEG_SIZE = (
    "EwMwMBMDLTgyMTk1MDI5NnQTE4NzfINzEzAwcXfhZrsDMDAwAAAAEDAxMRNz9DEwMTAwdBMTg3N8"
    "g3NzADATc3yDc3P0eFMTc/QxMDEwMHQTE4NzfINzc/QwE3N8g3Nz9HFTMNR0MBMwMHEw9DAAAAAQ"
    "MDGAABAwMTETc/QxMDH0MHQTMDBx1OFmuwMAAAD/gICAADExNTYyMQAgMBP///+AMTAwdHhTMDB0"
    "MBMwMHF3MDEwMTAwdBMTg3N8g3Nz9HhTMDB0MBMwMHF34Wa7AzAwMAAAABAwMTETc/QxMDEwMHQT"
    "E4NzfINzc/QwE3N8g3Nz9HhTE3P0MTAxMDB0ExODc3yDc3MwMBNzfINzczB4UzAwdDATMDBxMDAA"
    "gAAAEDAxc/QxMDEwMHQTAAAAIOFmuwMwNAAAABAwMTET////gDEwMHR4UzAwdDATMDBxd+FmuwMw"
    "MDAAAAAQMDExE3ODc3P0eFMTc/QxMDEwMHQTE4NzfINzc/QzMTEwMzM2MjQ4NDYxMjgzODBzfINz"
    "c/R4UzAwdDATMDBxMDAwAAAAEDAxAAAQMDExE3P0MTAxMDB0EzAwcdThZrsDMDQAAAAQg3N8g3Nz"
    "9DATc3yDc3P0eFMwMHQwEzAwcTAwMAAAABAwMQAAEDAxMRNz9DEwMTAwdBMwMHgw4Wa7AwAAEDA="
)


def _members(formats: int, pax_global: bool = False) -> bytes:
    raw = io.BytesIO()
    headers = {"comment": "global"} if pax_global else None
    with tarfile.open(fileobj=raw, mode="w", format=formats, pax_headers=headers) as tar:

        def add(
            name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            info.uid = 70000 if formats != tarfile.USTAR_FORMAT else 7
            tar.addfile(info, io.BytesIO(data) if data else None)

        add("etc/", tarfile.DIRTYPE)
        add("etc/empty")
        add("etc/one", data=b"x")
        add("big/spanning", data=os.urandom(3 << 20 | 123))  # across the walker's chunks
        add("etc/link", tarfile.SYMTYPE, link="/etc/one")
        add("etc/hard", tarfile.LNKTYPE, link="etc/one")
        add("dev/null", tarfile.CHRTYPE)
        add("run/fifo", tarfile.FIFOTYPE)
        add("usr/share/caf\u00e9/n\u00e4me", data=b"unicode")
        if formats != tarfile.USTAR_FORMAT:
            add(LONG, data=b"long name")
            add("lnk/long", tarfile.SYMTYPE, link="/" + LONG)
        add("last", data=b"y" * 511)
    return raw.getvalue()


def _oracle(archive: bytes) -> list[tuple[str, bytes, int, str, bytes | None]]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r|") as tar:
        listed = []
        for m in tar:
            content = tar.extractfile(m).read() if m.isreg() and not m.issparse() else None  # type: ignore[union-attr]
            kind = tarfile.REGTYPE if m.type == tarfile.AREGTYPE else m.type
            listed.append(
                (
                    m.name.rstrip("/"),
                    kind,
                    m.size if content is not None else 0,
                    m.linkname,
                    content,
                )
            )
        return listed


def _walked(archive: bytes, read: bool = True) -> list[tuple[str, bytes, int, str, bytes | None]]:
    walker = TarStream(io.BytesIO(archive))
    listed = []
    for entry in walker:
        regular = entry.isreg()
        content = walker.read() if regular and read else None
        kind = tarfile.REGTYPE if entry.type == tarfile.AREGTYPE else entry.type
        listed.append(
            (entry.name.rstrip("/"), kind, entry.size if regular else 0, entry.linkname, content)
        )
    return listed


@pytest.mark.parametrize(
    ("formats", "pax_global"),
    [
        (tarfile.USTAR_FORMAT, False),
        (tarfile.GNU_FORMAT, False),
        (tarfile.PAX_FORMAT, False),
        (tarfile.PAX_FORMAT, True),
    ],
    ids=["ustar", "gnu", "pax", "pax-global"],
)
def test_every_member_matches_tarfile(formats: int, pax_global: bool) -> None:
    archive = _members(formats, pax_global)
    assert _walked(archive) == _oracle(archive)


def test_unread_and_partly_read_content_is_stepped_over() -> None:
    archive = _members(tarfile.PAX_FORMAT)
    names = [name for name, *_ in _oracle(archive)]
    assert [name for name, *_ in _walked(archive, read=False)] == names
    walker = TarStream(io.BytesIO(archive))
    heads = {}
    for entry in walker:
        if entry.isreg() and entry.size:
            heads[entry.name] = walker.read(4) + next(walker.chunks(), b"")[:0]
    assert set(heads) == {name for name, kind, size, _, _ in _oracle(archive) if size}


def test_chunks_give_the_whole_content() -> None:
    archive = _members(tarfile.GNU_FORMAT)
    expected = {name: content for name, _, _, _, content in _oracle(archive) if content}
    walker = TarStream(io.BytesIO(archive))
    seen = {
        entry.name: walker.read(3) + b"".join(walker.chunks())
        for entry in walker
        if entry.isreg() and entry.size
    }
    assert seen == expected


@pytest.mark.skipif(shutil.which("tar") is None, reason="GNU tar is not installed")
@pytest.mark.parametrize("tar_format", ["gnu", "oldgnu", "posix", "ustar", "v7"])
def test_archives_written_by_gnu_tar(tmp_path: Path, tar_format: str) -> None:
    tree = tmp_path / "tree"
    (tree / "usr" / "lib").mkdir(parents=True)
    (tree / "usr" / "lib" / "data").write_bytes(os.urandom(70_000))
    (tree / "usr" / "lib" / "link").symlink_to("data")
    os.link(tree / "usr" / "lib" / "data", tree / "usr" / "lib" / "hard")
    if tar_format != "v7":  # v7 names stop at 100 bytes
        deep = tree / ("a" * 60) / ("b" * 60)
        deep.mkdir(parents=True)
        (deep / ("c" * 40)).write_text("deep")
    sparse = tar_format in ("gnu", "oldgnu", "posix")  # formats that can hold a sparse map
    if sparse:
        with (tree / "sparse").open("wb") as holes:  # a hole, then data
            holes.seek(5 << 20)
            holes.write(b"end")
    archive = tmp_path / "out.tar"
    flags = ["--sparse"] if sparse else []
    subprocess.run(
        ["tar", f"--format={tar_format}", *flags, "-cf", str(archive), "-C", str(tree), "."],
        check=True,
    )
    data = archive.read_bytes()
    oracle = [row for row in _oracle(data) if row[0] != "./sparse"]
    walked = [row for row in _walked(data) if row[0] != "./sparse"]
    assert walked == oracle
    if sparse:
        [entry] = [e for e in TarStream(io.BytesIO(data)) if e.name == "./sparse"]
        assert entry.sparse


def _corrupt_checksum(archive: bytes, header: int) -> bytes:
    data = bytearray(archive)
    data[header * 512 + 148 : header * 512 + 156] = b"0000000\0"
    return bytes(data)


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (b"", "empty"),
        (_members(tarfile.USTAR_FORMAT)[:700], "truncated"),  # in the first file's content
        (_members(tarfile.USTAR_FORMAT)[: 3 << 20], "truncated"),
        (_members(tarfile.USTAR_FORMAT)[: 1024 + 100], "truncated in a header"),
        (_corrupt_checksum(_members(tarfile.USTAR_FORMAT), 2), "bad checksum"),
        (base64.b64decode(GO_NEG_SIZE), "tar"),
    ],
    ids=["empty", "content", "spanning-content", "header", "checksum", "go-neg-size"],
)
def test_broken_archives_are_a_read_error(archive: bytes, message: str) -> None:
    with pytest.raises(tarfile.ReadError, match=message):
        walker = TarStream(io.BytesIO(archive))
        for entry in walker:
            walker.read(entry.size)


def test_a_huge_pax_header_is_refused_before_it_is_read() -> None:
    info = tarfile.TarInfo("x")
    info.type, info.size = b"x", 64 << 20
    archive = info.tobuf(tarfile.USTAR_FORMAT) + bytes(1024)
    with pytest.raises(tarfile.ReadError, match="PAX header of"):
        list(TarStream(io.BytesIO(archive)))


def test_a_malformed_pax_record_is_refused() -> None:
    record = b"9 path\n"  # no "=", length fits
    info = tarfile.TarInfo("././@PaxHeader")
    info.type, info.size = b"x", len(record)
    archive = info.tobuf(tarfile.USTAR_FORMAT) + record.ljust(512, b"\0") + bytes(1024)
    with pytest.raises(tarfile.ReadError, match="malformed record"):
        list(TarStream(io.BytesIO(archive)))


def test_the_end_without_end_of_archive_blocks_is_the_end() -> None:
    archive = _members(tarfile.USTAR_FORMAT)
    end = len(archive.rstrip(b"\0"))
    end += -end % 512
    assert [e.name for e in TarStream(io.BytesIO(archive[:end]))] == [
        row[0] if row[1] != tarfile.DIRTYPE else row[0] + "/" for row in _oracle(archive)
    ]


def test_header_bytes_are_summed_exactly() -> None:
    blocks = [bytes(512), b"\xff" * 512, bytes(range(256)) * 2, os.urandom(512)]
    assert [tarstream.byte_sum(block) for block in blocks] == [sum(block) for block in blocks]
