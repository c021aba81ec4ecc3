"""The evidence layers as one filesystem: deletions, hidden directories, replacements,
and paths resolved through symlinks as Syft's resolver resolves them."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from service.layers import squash
from service.layers.squash import HardLink, SquashedTree
from tests.support.layers import Dir, File, Hardlink, LayerEntries, Symlink, Whiteout, write_tar


def _tree(tmp_path: Path, *layers: LayerEntries) -> SquashedTree:
    blobs = []
    for index, entries in enumerate(layers):
        blob = tmp_path / f"layer{index}.tar"
        with blob.open("wb") as sink:
            write_tar(entries, sink)
        blobs.append((f"sha256:{index}", blob))
    return SquashedTree.of(blobs)


def test_later_layers_delete_hide_and_replace(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {"a/x": b"1", "a/y": b"2", "b/z": b"3", "c/w": b"4", "d": b"5"},
        {"a/x": Whiteout(), "b/.wh..wh..opq": b"", "b/new": b"6", "c": b"7", "d": Dir()},
    )
    assert {path: node.layer for path, node in tree.files()} == {
        "a/y": "sha256:0",
        "b/new": "sha256:1",
        "c": "sha256:1",  # a file replacing a directory hides what it held
    }


def test_a_path_under_a_former_file_or_symlink_replaces_it(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path, {"a": b"file", "l": Symlink("x"), "m/n": b"1"}, {"a/b": b"2", "m": Symlink("z")}
    )
    assert set(tree.nodes) == {"a/b", "l", "m"}
    tree = _tree(tmp_path, {"a": b"file"}, {"a/b/c": b"2"})
    assert set(tree.nodes) == {"a/b/c"}


def test_contents_are_read_where_they_lie_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(squash, "MAX_CONTENT", 8)
    tree = _tree(tmp_path, {"small": b"abc", "empty": b"", "large": b"\x7fELF" + b"0" * 10})
    assert tree.nodes["small"].content == b"abc" and tree.nodes["empty"].content == b""
    assert tree.nodes["large"].content is None and tree.nodes["large"].head == b"\x7fELF"


def test_a_file_opens_as_a_seekable_view_of_its_bytes_whatever_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(squash, "MAX_CONTENT", 8)
    data = bytes(range(256)) * 40
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    tree = _tree(tmp_path, {"before": b"x" * 700, "f": data, "a.jar": buffer.getvalue()})
    with tree.nodes["f"].open() as view:
        assert view.read(3) == data[:3]
        view.seek(-5, io.SEEK_END)
        assert view.read() == data[-5:] and view.read() == b""
        view.seek(1000)
        assert view.read(10) == data[1000:1010]
    with tree.nodes["a.jar"].open() as view, zipfile.ZipFile(view) as archive:
        assert archive.read("META-INF/MANIFEST.MF") == b"Manifest-Version: 1.0\n"


def test_paths_resolve_through_symlinks(tmp_path: Path) -> None:
    tree = _tree(
        tmp_path,
        {
            "usr/bin/bash": b"bash",
            "bin": Symlink("usr/bin"),
            "etc/os-release": Symlink("../usr/lib/os-release"),
            "usr/lib/os-release": b"ID=debian\n",
            "usr/share/doc/libx-dev": Symlink("libx"),
            "usr/share/doc/libx/copyright": b"License: MIT\n",
            "loop/a": Symlink("b"),
            "loop/b": Symlink("a"),
        },
    )
    assert tree.resolve("/bin/bash") == "usr/bin/bash"
    assert tree.resolve("etc/os-release") == "usr/lib/os-release"
    assert tree.resolve("usr/share/doc/libx-dev/copyright") == "usr/share/doc/libx/copyright"
    assert tree.resolve("loop/a") is None
    assert tree.resolve("usr/bin") is None  # a directory, not a file
    assert tree.resolve("usr/bin/bash/x") is None


def test_a_hard_link_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HardLink):
        _tree(tmp_path, {"a": File(b"1"), "b": Hardlink("a")})
