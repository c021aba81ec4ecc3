"""Layer analysis of real OCI layouts: efficiency figures computed by hand, whiteouts and
opaque directories applied as the image filesystem does, secrets found in any layer."""

from __future__ import annotations

import gzip
import io
import itertools
import os
import posixpath
import sys
import tarfile
from pathlib import Path

import pytest
import zstandard

from service.acquire.fetcher import ImageFetcher
from service.errors import ImageError, UnsafeArchiveError
from service.image.cache import BlobCache
from service.image.model import PinnedImage
from service.image.reference import parse_reference
from service.layers import inflate, reader
from service.layers.analyzer import LayerAnalyzer
from service.layers.cache import LayerCache
from service.layers.compose import compose
from service.layers.model import LayerContents, LayerEvidence, SecretKind
from service.layers.reader import read_layer
from service.settings import Settings
from tests.support.oci import File, History, ImageSpec, Symlink, Whiteout, write_image

KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1r\n-----END OPENSSH PRIVATE KEY-----\n"
OPAQUE = ".wh..wh..opq"


def pinned(tmp_path: Path, spec: ImageSpec) -> tuple[PinnedImage, BlobCache]:
    layout = tmp_path / "layout"
    write_image(layout, spec, tag="1")
    blobs = BlobCache(tmp_path / "cache")
    fetcher = ImageFetcher(blobs, lambda host: pytest.fail(), Settings())
    return fetcher.fetch(parse_reference(f"oci-dir:{layout}:1")), blobs


def analyser(tmp_path: Path, blobs: BlobCache) -> LayerAnalyzer:
    return LayerAnalyzer(blobs, LayerCache(tmp_path / "cache"))


# Layer 0 writes a 1000-byte file, a 10-byte config and a key; layer 1 rewrites the config
# (20 bytes), deletes the big file and the key; layer 2 makes /etc opaque and writes one file.
WRITE_THEN_DELETE = ImageSpec(
    layers=[
        {
            "app/big.bin": b"x" * 1000,
            "etc/app.conf": b"a" * 10,
            "etc/keep.conf": b"k" * 5,
            "root/.ssh/id_ed25519": File(KEY, mode=0o600),
            "usr/bin/tool": b"t" * 300,
        },
        {
            "etc/app.conf": b"b" * 20,
            "app/big.bin": Whiteout(),
            "root/.ssh": Whiteout(),
            "usr/bin/link": Symlink("tool"),
        },
        {f"etc/{OPAQUE}": b"", "etc/only.conf": b"o" * 7},
    ],
    history=[
        History(created_by="ADD rootfs /"),
        History(created_by="ENV A=1", empty_layer=True),
        History(created_by="RUN rm -rf /app/big.bin /root/.ssh"),
        History(created_by="RUN rm -rf /etc/*"),
    ],
)


def test_efficiency_of_a_file_written_then_deleted(tmp_path: Path) -> None:
    image, blobs = pinned(tmp_path, WRITE_THEN_DELETE)
    analysis = analyser(tmp_path, blobs).analyse(image)

    first, second, third = analysis.layers
    key_size = len(KEY)
    assert first.size == 1000 + 10 + 5 + key_size + 300
    assert (first.files_added, first.files_changed, first.files_removed) == (5, 0, 0)
    assert first.created_by == "ADD rootfs /"
    assert second.size == 20  # the symlink and whiteouts hold no bytes
    assert (second.files_added, second.files_changed, second.files_removed) == (1, 1, 2)
    assert second.created_by == "RUN rm -rf /app/big.bin /root/.ssh"
    assert (third.files_added, third.files_changed, third.files_removed) == (1, 0, 2)
    assert third.compressed_size == blobs.path(third.digest).stat().st_size

    # Paths with more than one copy: big.bin (1000, then 0), app.conf (10, 20, then 0),
    # the key (then 0), keep.conf (5, then 0 under the opaque /etc).
    efficiency = analysis.efficiency
    wasted = 1000 + (10 + 20) + key_size + 5
    assert efficiency.wasted_bytes == wasted
    total = 1000 + 10 + 5 + key_size + 300 + 20 + 7
    assert efficiency.size == total
    assert efficiency.user_size == 27
    assert efficiency.wasted_user_percent == pytest.approx(wasted / 27)
    # smallest size of each path over the sum of every size it had
    smallest = 0 + 0 + 0 + 0 + 300 + 0 + 7  # big, app.conf, key, keep.conf, tool, link, only
    assert efficiency.score == pytest.approx(smallest / (total))
    assert [i.path for i in efficiency.inefficiencies] == [
        "/app/big.bin",
        "/root/.ssh/id_ed25519",
        "/etc/app.conf",
        "/etc/keep.conf",
    ]
    assert efficiency.inefficiencies[2].layers == 3


def test_a_private_key_deleted_by_a_later_layer_is_still_reported(tmp_path: Path) -> None:
    image, blobs = pinned(tmp_path, WRITE_THEN_DELETE)
    [secret] = analyser(tmp_path, blobs).analyse(image).secret_files
    assert secret.path == "root/.ssh/id_ed25519"
    assert secret.kind is SecretKind.PRIVATE_KEY
    assert secret.layer == image.layers[0]
    assert secret.layer_index == 0
    assert not secret.visible
    assert "PRIVATE" not in secret.model_dump_json()  # the key itself is never echoed


def test_each_layer_is_read_once_and_the_result_is_the_same_warm(tmp_path: Path) -> None:
    image, blobs = pinned(tmp_path, WRITE_THEN_DELETE)
    cold = analyser(tmp_path, blobs).analyse(image)
    for digest in image.layers:  # a warm analysis never opens a blob
        blobs.path(digest).unlink()
    assert analyser(tmp_path, blobs).analyse(image) == cold


def test_the_evidence_image_is_the_same_from_cached_evidence_alone(tmp_path: Path) -> None:
    """Once the layers were read, the evidence image is composed from the evidence part of
    their cache entries (the file listings skipped): the same image as when read."""
    image, blobs = pinned(tmp_path, WRITE_THEN_DELETE)
    read = analyser(tmp_path, blobs).evidence_image(image)
    cache = LayerCache(tmp_path / "cache")
    for digest in image.layers:
        entry = cache.get(digest)
        evidence = cache.get_evidence(digest)
        assert entry is not None and evidence is not None
        assert type(evidence) is LayerEvidence
        assert evidence == LayerEvidence.model_validate(entry.model_dump(), from_attributes=True)
        blobs.path(digest).unlink()  # a layer is not read again
    assert analyser(tmp_path, blobs).evidence_image(image) == read


def test_an_image_of_one_file_per_path_is_fully_efficient(tmp_path: Path) -> None:
    spec = ImageSpec(layers=[{"a": b"1" * 10}, {"b": b"2" * 20}])
    image, blobs = pinned(tmp_path, spec)
    efficiency = analyser(tmp_path, blobs).analyse(image).efficiency
    assert (efficiency.score, efficiency.wasted_bytes, efficiency.inefficiencies) == (1.0, 0, ())


def contents(digest: str, **kwargs: object) -> LayerContents:
    return LayerContents.model_validate(
        {"digest": "sha256:" + digest * 64, "compressed_size": 1, **kwargs}
    )


def test_a_file_replacing_a_directory_hides_its_content_and_the_reverse() -> None:
    layers = [
        contents("a", files={"opt/dir/x": 4, "opt/file": 3}),
        contents("b", files={"opt/dir": 1, "opt/file/y": 2}),
    ]
    analysis = compose(layers, ["", ""])
    second = analysis.layers[1]
    assert (second.files_added, second.files_changed, second.files_removed) == (2, 0, 2)


def test_dive_reference_figures() -> None:
    """dive's own efficiency test (filetree/efficiency_test.go): nginx.conf 2000 then 5000,
    public 3000, athing 10000, then /etc/nginx deleted. dive scores 0.75, counting the
    deleted directory as one 0-byte path; deleting each file it held gives 10000/20000."""
    layers = [
        contents("a", files={"etc/nginx/nginx.conf": 2000, "etc/nginx/public": 3000}),
        contents("b", files={"etc/nginx/nginx.conf": 5000, "etc/athing": 10000}),
        contents("c", whiteouts=("etc/nginx",)),
    ]
    efficiency = compose(layers, [""] * 3).efficiency
    assert efficiency.score == pytest.approx(10000 / 20000)
    assert efficiency.wasted_bytes == 7000 + 3000


@pytest.fixture(params=["here", "child"])
def inflated_where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Compressed blobs inflated in this process (small ones) or by a child (all of them)."""
    if request.param == "child":
        monkeypatch.setattr(inflate, "_IN_PROCESS", 0)
    return str(request.param)


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.usefixtures("inflated_where")
def test_layers_are_read_in_every_compression(tmp_path: Path, compression: str) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in {
            "./etc/.env": b"TOKEN=abc\n",
            "/home/u/.npmrc": b"//r/:_authToken=x\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("etc/env-link")
        link.type, link.linkname = tarfile.LNKTYPE, "etc/.env"
        tar.addfile(link)
    data = raw.getvalue()
    if compression == "gzip":
        data = gzip.compress(data)
    elif compression == "zstd":
        data = zstandard.ZstdCompressor().compress(data)
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    layer = read_layer(blob, "sha256:" + "c" * 64)
    assert layer.files == {"etc/.env": 10, "home/u/.npmrc": 18, "etc/env-link": 0}
    assert {(s.path, s.kind) for s in layer.secrets} == {
        ("etc/.env", SecretKind.DOTENV),
        ("home/u/.npmrc", SecretKind.NPM_TOKEN),
    }


@pytest.mark.parametrize(
    ("compression", "message"),
    [
        ("gzip", "does not inflate as gzip: EOFError"),
        ("zstd", "truncated"),  # a cut zstd frame just ends: the tar inside is cut short
    ],
)
@pytest.mark.usefixtures("inflated_where")
def test_a_layer_cut_short_is_a_clear_error(tmp_path: Path, compression: str, message: str) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("etc/data")
        info.size = 200_000
        tar.addfile(info, io.BytesIO(os.urandom(info.size)))
    data = (
        gzip.compress(raw.getvalue())
        if compression == "gzip"
        else zstandard.ZstdCompressor().compress(raw.getvalue())
    )
    blob = tmp_path / "blob"
    blob.write_bytes(data[: len(data) // 2])  # cut short
    with pytest.raises(ImageError, match=message):
        read_layer(blob, "sha256:" + "d" * 64)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
@pytest.mark.usefixtures("inflated_where")
def test_a_bomb_layer_is_refused(tmp_path: Path, compression: str) -> None:
    """A small blob inflating past the cap (64 MiB for anything under 640 KiB) is refused,
    in this process as by the child."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("zeros")
        info.size = 70 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    data = (
        gzip.compress(raw.getvalue(), compresslevel=1)
        if compression == "gzip"
        else zstandard.ZstdCompressor().compress(raw.getvalue())
    )
    blob = tmp_path / "blob"
    blob.write_bytes(data)
    with pytest.raises(UnsafeArchiveError, match="refusing a decompression bomb"):
        read_layer(blob, "sha256:" + "e" * 64)


def test_a_blob_read_as_it_arrives_reaches_the_child_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A blob that is not a file (one still arriving) and larger than what is inflated
    here goes to the child with the bytes read to tell its size first."""
    monkeypatch.setattr(inflate, "_IN_PROCESS", 1000)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for number in range(20):
            data = os.urandom(500)
            info = tarfile.TarInfo(f"files/{number}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    expected = raw.getvalue()
    with inflate.tar_stream(io.BytesIO(gzip.compress(expected)), "layer x") as stream:
        inflated = b"".join(iter(lambda: stream.read(4096), b""))
    assert inflated == expected


def test_the_interpreter_switches_quickly_only_while_layers_are_read() -> None:
    from service.layers import analyzer

    before = sys.getswitchinterval()
    with analyzer._quick_switching():
        assert sys.getswitchinterval() == pytest.approx(analyzer._QuickSwitching.INTERVAL)
        with analyzer._quick_switching():  # a second scan reading layers meanwhile
            pass
        assert sys.getswitchinterval() == pytest.approx(analyzer._QuickSwitching.INTERVAL)
    assert sys.getswitchinterval() == before


def test_large_evidence_is_copied_from_the_stream_whole(tmp_path: Path) -> None:
    """An evidence file past what is read for secrets (a jar of megabytes) is copied into
    the evidence tar from the layer stream as it is, byte for byte."""
    jar = os.urandom(3 << 20 | 77)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("opt/app/big.jar")
        info.size = len(jar)
        tar.addfile(info, io.BytesIO(jar))
    blob = tmp_path / "blob"
    blob.write_bytes(gzip.compress(raw.getvalue()))
    kept = io.BytesIO()
    read_layer(blob, "sha256:" + "e" * 64, kept)
    kept.seek(0)
    with tarfile.open(fileobj=kept) as evidence:
        member = evidence.extractfile("opt/app/big.jar")
        assert member is not None and member.read() == jar


def test_member_names_are_normalised_as_the_filesystem_applies_them() -> None:
    """The fast path (names with nothing to resolve) agrees with resolving every name."""
    parts = ["a", ".", "..", "/", "//", "./", "../", ".x", "x.", ".wh.y"]
    names = {"".join(p) for n in range(5) for p in itertools.product(parts, repeat=n)}
    for name in names:
        resolved = posixpath.normpath("/" + name).lstrip("/") or None
        assert reader._normalised(name) == resolved, name
