"""Issue 2, bad input: every failure is one actionable stderr line, exit 2, no output file.

Runs the real ``tollgate sbom`` as a subprocess against inputs built here: a real
registry (plain, with htpasswd auth, with tampered storage), loopback stubs that hang,
fail with 5xx or serve unsupported manifests, hostile archives, and stand-in engine
scripts. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import socket
import tarfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

import httpx
import pytest
import zstandard
from typing_extensions import Buffer

from tests.support.archives import write_docker_archive, write_oci_archive
from tests.support.cli import assert_clean_failure, fake_syft, run_tollgate
from tests.support.oci import (
    MEDIA_CONFIG,
    MEDIA_LAYER_GZIP,
    MEDIA_MANIFEST,
    ImageSpec,
    layout_digest,
    push,
    read_blob_json,
    write_image,
)
from tests.support.registry import BasicAuth, LocalRegistry, free_loopback_port

pytestmark = pytest.mark.integration

TAG = "1"
TINY = ImageSpec(
    layers=[
        {"etc/os-release": b'ID=debian\nVERSION_ID="12"\n', "srv/data.txt": b"x" * 4096},
        {"app/README": b"tollgate bad-input fixture\n"},
    ]
)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    layout = tmp_path_factory.mktemp("tiny") / "layout"
    write_image(layout, TINY, tag=TAG)
    return layout


@pytest.fixture(scope="module")
def tiny_ref(tiny_layout: Path, registry: LocalRegistry) -> str:
    repo = "tollgate-test/bad-input-tiny"
    push(tiny_layout, TAG, registry.host, repo)
    return f"{registry.host}/{repo}:{TAG}"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    target = tmp_path / "out" / "sbom.json"
    target.parent.mkdir()
    return target


def _fails(
    ref: str,
    out: Path,
    tmp_path: Path,
    *phrases: str,
    env: dict[str, str] | None = None,
    pulled: bool = False,
) -> str:
    run = run_tollgate(["sbom", ref, "-o", str(out)], tmp_path / "data", env)
    return assert_clean_failure(run, out, *phrases, pulled=pulled)


def _succeeds(ref: str, out: Path, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    """Run to success; returns the image digest the SBOM describes."""
    run = run_tollgate(["sbom", ref, "-o", str(out)], tmp_path / "data", env)
    assert run.returncode == 0, run.stderr
    digest: str = json.loads(out.read_text())["metadata"]["component"]["version"]
    return digest


# -- references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "phrase"),
    [
        ("UPPER/Case:1", "invalid image reference"),
        ("alpine:bad tag", "invalid image reference"),
        ("alpine@sha256:1234", "sha256"),
        ("127.0.0.1:99999/x:1", "invalid image reference"),
        ("oci-archive:", "needs a path"),
        ("", "empty"),
    ],
)
def test_malformed_reference(reference: str, phrase: str, out: Path, tmp_path: Path) -> None:
    _fails(reference, out, tmp_path, phrase)


def test_unknown_tag(tiny_ref: str, out: Path, tmp_path: Path) -> None:
    missing = tiny_ref.rsplit(":", 1)[0] + ":no-such-tag"
    _fails(missing, out, tmp_path, "no-such-tag")


# -- registry transport -----------------------------------------------------------------


@pytest.fixture(scope="module")
def auth_registry(
    tiny_layout: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalRegistry, BasicAuth, str]]:
    creds = BasicAuth("tollgate", "s3cret-pass")
    with LocalRegistry(tmp_path_factory.mktemp("auth-registry"), auth=creds) as running:
        repo = "tollgate-test/private"
        push(tiny_layout, TAG, running.host, repo, creds=f"{creds.username}:{creds.password}")
        yield running, creds, f"{running.host}/{repo}:{TAG}"


def test_401_without_credentials_then_success_with_them(
    auth_registry: tuple[LocalRegistry, BasicAuth, str],
    tiny_layout: Path,
    out: Path,
    tmp_path: Path,
) -> None:
    running, creds, ref = auth_registry
    line = _fails(ref, out, tmp_path, "401", running.host)
    assert "TOLLGATE_REGISTRY_AUTH" in line or "login" in line.lower()
    assert creds.password not in line

    wrong = {running.host: {"username": creds.username, "password": "wrong"}}
    line = _fails(ref, out, tmp_path, "401", env={"TOLLGATE_REGISTRY_AUTH": json.dumps(wrong)})
    assert "wrong" not in line

    good = {running.host: {"username": creds.username, "password": creds.password}}
    digest = _succeeds(ref, out, tmp_path, {"TOLLGATE_REGISTRY_AUTH": json.dumps(good)})
    assert digest == layout_digest(tiny_layout, TAG)


def test_registry_down(out: Path, tmp_path: Path) -> None:
    port = free_loopback_port()  # nothing listens there
    _fails(
        f"127.0.0.1:{port}/tollgate-test/x:1",
        out,
        tmp_path,
        "unavailable",
        "retry",
        env={"TOLLGATE_REGISTRY_RETRIES": "1", "TOLLGATE_REGISTRY_TIMEOUT": "1"},
    )


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts TCP connections on 127.0.0.1 and never answers."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (close alone does not)
    listener.close()
    thread.join(timeout=10)
    assert not thread.is_alive()  # no thread left to the rest of the session's tests
    for connection in held:
        connection.close()


def test_registry_timing_out(silent_server: str, out: Path, tmp_path: Path) -> None:
    _fails(
        f"{silent_server}/tollgate-test/x:1",
        out,
        tmp_path,
        "unavailable",
        "timeout",
        env={"TOLLGATE_REGISTRY_TIMEOUT": "1", "TOLLGATE_REGISTRY_RETRIES": "1"},
    )


class _Stub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Callable[[BaseHTTPRequestHandler], None]) -> None:
        self.respond = respond
        self.requests = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _StubHandler)


class _StubHandler(BaseHTTPRequestHandler):
    server: _Stub

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.requests += 1
        self.server.respond(self)

    do_HEAD = do_GET

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def stub() -> Iterator[Callable[[Callable[[BaseHTTPRequestHandler], None]], _Stub]]:
    servers: list[_Stub] = []

    def start(respond: Callable[[BaseHTTPRequestHandler], None]) -> _Stub:
        server = _Stub(respond)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _answer(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


FailWhen = Callable[[_Stub, BaseHTTPRequestHandler], bool]


@pytest.fixture
def overloaded_proxy(
    stub: Callable[..., _Stub], registry: LocalRegistry, tiny_ref: str
) -> Iterator[Callable[[FailWhen], tuple[str, _Stub]]]:
    """``overloaded_proxy(fail_when)``: tiny_ref through a proxy in front of the registry
    that answers 503 to the requests ``fail_when`` picks and forwards the others."""
    upstream = httpx.Client(base_url=registry.url, timeout=10)

    def start(fail_when: FailWhen) -> tuple[str, _Stub]:
        def respond(handler: BaseHTTPRequestHandler) -> None:
            if fail_when(server, handler):
                _answer(handler, 503, b"overloaded")
            else:
                _forward(upstream, handler)

        server = stub(respond)
        return tiny_ref.replace(registry.host, f"127.0.0.1:{server.server_address[1]}"), server

    yield start
    upstream.close()


def test_5xx_then_success(
    overloaded_proxy: Callable[[FailWhen], tuple[str, _Stub]],
    tiny_layout: Path,
    out: Path,
    tmp_path: Path,
) -> None:
    failures = 2
    proxied, server = overloaded_proxy(lambda server, _: server.requests <= failures)
    digest = _succeeds(proxied, out, tmp_path)
    assert server.requests > failures
    assert digest == layout_digest(tiny_layout, TAG)


def test_layers_failing_after_the_image_is_pinned(
    overloaded_proxy: Callable[[FailWhen], tuple[str, _Stub]],
    tiny_layout: Path,
    out: Path,
    tmp_path: Path,
) -> None:
    """Manifest and config arrive and the engine starts; then every layer request fails:
    the registry's failure is what the user reads, not the engine's."""
    manifest = read_blob_json(tiny_layout, layout_digest(tiny_layout, TAG))
    layers = [layer["digest"] for layer in manifest["layers"]]
    proxied, _ = overloaded_proxy(lambda _, handler: any(d in handler.path for d in layers))
    _fails(proxied, out, tmp_path, "unavailable", "503", env={"TOLLGATE_REGISTRY_RETRIES": "1"})


def _forward(upstream: httpx.Client, handler: BaseHTTPRequestHandler) -> None:
    """Answer ``handler`` with what the real registry answers."""
    forwarded = {
        k: v for k, v in handler.headers.items() if k.lower() in ("accept", "authorization")
    }
    answer = upstream.request(handler.command, handler.path, headers=forwarded)
    keep = ("content-type", "docker-content-digest", "www-authenticate")
    _answer(
        handler,
        answer.status_code,
        answer.content,
        {k: v for k, v in answer.headers.items() if k.lower() in keep},
    )


def test_5xx_that_never_ends(stub: Callable[..., _Stub], out: Path, tmp_path: Path) -> None:
    server = stub(lambda handler: _answer(handler, 503, b"overloaded"))
    _fails(
        f"127.0.0.1:{server.server_address[1]}/tollgate-test/x:1",
        out,
        tmp_path,
        "unavailable",
        "503",
        env={"TOLLGATE_REGISTRY_RETRIES": "1"},
    )


# -- content the registry serves ---------------------------------------------------------


def test_tampered_layer_blob(
    tiny_layout: Path, registry: LocalRegistry, out: Path, tmp_path: Path
) -> None:
    repo = "tollgate-test/tampered"
    digest = push(tiny_layout, TAG, registry.host, repo)
    layer = read_blob_json(tiny_layout, digest)["layers"][0]["digest"]
    hex_digest = layer.split(":", 1)[1]
    data = (
        registry.storage_dir
        / "docker/registry/v2/blobs/sha256"
        / hex_digest[:2]
        / hex_digest
        / "data"
    )
    original = data.read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF  # same length: only the hash can tell
    data.write_bytes(bytes(corrupted))
    try:
        line = _fails(f"{registry.host}/{repo}:{TAG}", out, tmp_path, layer, "tamper")
    finally:
        data.write_bytes(original)
    assert "hashes to" in line
    cached = tmp_path / "data" / "cache" / "blobs" / "sha256" / hex_digest
    assert not cached.exists(), "a blob that failed verification was cached"


SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+prettyjws"
UNKNOWN = "application/vnd.example.thing.v1+json"


@pytest.mark.parametrize(
    ("media_type", "body"),
    [
        (SCHEMA1, {"schemaVersion": 1, "name": "x", "tag": "1", "fsLayers": []}),
        (UNKNOWN, {"schemaVersion": 2, "mediaType": UNKNOWN, "stuff": []}),
    ],
)
def test_unsupported_manifest_media_type(
    stub: Callable[..., _Stub], media_type: str, body: dict[str, object], out: Path, tmp_path: Path
) -> None:
    content = json.dumps(body).encode()

    def serve(handler: BaseHTTPRequestHandler) -> None:
        if handler.path.rstrip("/") == "/v2":
            _answer(handler, 200, b"{}")
        else:
            _answer(handler, 200, content, {"Content-Type": media_type})

    server = stub(serve)
    line = _fails(
        f"127.0.0.1:{server.server_address[1]}/tollgate-test/old:1", out, tmp_path, media_type
    )
    assert "unsupported" in line.lower() or "not supported" in line.lower()


# -- archives ---------------------------------------------------------------------------


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", linkname: str = ""
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o644
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, data


def _hostile_archive(base: Path, archive: Path, extra: tuple[tarfile.TarInfo, bytes]) -> Path:
    """``base`` (a valid archive) with ``extra`` appended as its last member."""
    with tarfile.open(base) as source, tarfile.open(archive, "w", format=tarfile.GNU_FORMAT) as tar:
        for member in source:
            tar.addfile(member, source.extractfile(member))
        info, data = extra
        tar.addfile(info, io.BytesIO(data) if data else None)
    return archive


@pytest.fixture(scope="module")
def valid_archives(tiny_layout: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("archives")
    return {
        "docker-archive": write_docker_archive(
            tiny_layout, TAG, where / "docker.tar", repo_tag="tollgate-test/tiny:1"
        ),
        "oci-archive": write_oci_archive(tiny_layout, where / "oci.tar"),
    }


ESCAPE_NAME = "tollgate-escaped-marker"


@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("traversal", "path traversal"),
        ("absolute", "absolute path"),
        ("absolute-symlink", "symlink to the absolute path"),
        ("escaping-symlink", "symlink escaping"),
        ("hardlink", "hard link escaping"),
        ("device", "device"),
    ],
)
def test_hostile_archive(
    case: str,
    phrase: str,
    transport: str,
    valid_archives: dict[str, Path],
    out: Path,
    tmp_path: Path,
) -> None:
    outside = tmp_path / ESCAPE_NAME
    members = {
        "traversal": lambda: _member(f"../../../{ESCAPE_NAME}", data=b"pwned"),
        "absolute": lambda: _member(str(outside), data=b"pwned"),
        "absolute-symlink": lambda: _member("etc-link", tarfile.SYMTYPE, linkname="/etc"),
        "escaping-symlink": lambda: _member("blobs/up", tarfile.SYMTYPE, linkname="../../.."),
        "hardlink": lambda: _member("passwd", tarfile.LNKTYPE, linkname="../../../etc/passwd"),
        "device": lambda: _member("null", tarfile.CHRTYPE),
    }
    archive = _hostile_archive(valid_archives[transport], tmp_path / f"{case}.tar", members[case]())
    with tarfile.open(archive) as tar:
        member_name = tar.getmembers()[-1].name
    _fails(f"{transport}:{archive}", out, tmp_path, phrase, repr(member_name))
    assert not outside.exists()
    assert not [p for p in tmp_path.rglob(ESCAPE_NAME)], "a member escaped extraction"
    scratch = tmp_path / "data" / "cache" / "tmp"
    assert not scratch.exists() or not any(scratch.iterdir()), "extraction dir left behind"


BOMB_BYTES = 96 << 20  # past the 64 MiB floor of the expansion-ratio cap; ~100 KiB gzipped
MEDIA_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, produced a chunk at a time."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        take = min(self._left, 1 << 20 if n < 0 else min(n, 1 << 20))
        self._left -= take
        return bytes(take)


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _Hashing(io.RawIOBase):
    def __init__(self, sink: _Sink) -> None:
        super().__init__()
        self._sink, self.sha256 = sink, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Buffer, /) -> int:
        chunk = bytes(data)
        self.sha256.update(chunk)
        return self._sink.write(chunk)


_Packer = Callable[[Path], AbstractContextManager[_Sink]]


def _gzip(path: Path) -> AbstractContextManager[_Sink]:
    return gzip.open(path, "wb", compresslevel=9)


def _zstd(path: Path) -> AbstractContextManager[_Sink]:
    return zstandard.ZstdCompressor().stream_writer(path.open("wb"))


def _bomb(path: Path, member: str, pack: _Packer = _gzip) -> str:
    """Write a tar holding ``member`` (BOMB_BYTES of zeros), compressed by ``pack``.

    Returns the tar's diff_id.
    """
    with pack(path) as packed:
        hashing = _Hashing(packed)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.GNU_FORMAT) as tar:
            info = tarfile.TarInfo(member)
            info.size = BOMB_BYTES
            tar.addfile(info, _Zeros(BOMB_BYTES))
    assert path.stat().st_size < BOMB_BYTES // 200
    return f"sha256:{hashing.sha256.hexdigest()}"


def test_gzip_bomb_archive(out: Path, tmp_path: Path) -> None:
    """A gzipped docker archive whose first member inflates far past the cap."""
    bomb = tmp_path / "bomb.tar.gz"
    _bomb(bomb, "0123abcd/layer.tar")
    _fails(f"docker-archive:{bomb}", out, tmp_path, "decompression bomb", "0123abcd/layer.tar")


def _bomb_layout(layout: Path, pack: _Packer, media_type: str) -> str:
    """A well-formed image whose one layer blob is a bomb packed by ``pack``, as an OCI
    layout at ``layout``; returns the layer blob's hex digest."""
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layer = blobs / "incoming"
    diff_id = _bomb(layer, "zeros", pack)
    layer_hex = hashlib.sha256(layer.read_bytes()).hexdigest()
    layer.rename(blobs / layer_hex)

    def blob(document: dict[str, object]) -> dict[str, object]:
        data = json.dumps(document).encode()
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    config = blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    )
    layer_descriptor = {
        "mediaType": media_type,
        "digest": f"sha256:{layer_hex}",
        "size": (blobs / layer_hex).stat().st_size,
    }
    manifest = blob(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, **config},
            "layers": [layer_descriptor],
        }
    )
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": MEDIA_MANIFEST,
                        **manifest,
                        "annotations": {"org.opencontainers.image.ref.name": TAG},
                    }
                ],
            }
        )
    )
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    return layer_hex


@pytest.mark.parametrize(
    ("pack", "media_type"),
    [(_gzip, MEDIA_LAYER_GZIP), (_zstd, MEDIA_LAYER_ZSTD)],
    ids=["gzip", "zstd"],
)
@pytest.mark.parametrize("transport", ["oci-archive", "oci-dir", "registry"])
def test_bomb_layer(
    pack: _Packer,
    media_type: str,
    transport: str,
    registry: LocalRegistry,
    out: Path,
    tmp_path: Path,
) -> None:
    """A well-formed image whose one layer blob is a gzip or zstd bomb: refused whether
    the archive holding it is stored (oci-archive) or the layer is read as it is, in
    place (oci-dir) or as it downloads (registry)."""
    layout = tmp_path / "bomb-layout"
    layer_hex = _bomb_layout(layout, pack, media_type)
    if transport == "oci-archive":
        reference = f"oci-archive:{write_oci_archive(layout, tmp_path / 'bomb-oci.tar')}"
    elif transport == "oci-dir":
        reference = f"oci-dir:{layout}"
    else:
        repo = f"tollgate-test/bomb-{media_type.rsplit('+', 1)[-1]}"
        push(layout, TAG, registry.host, repo)
        reference = f"{registry.host}/{repo}:{TAG}"
    _fails(reference, out, tmp_path, "decompression bomb", layer_hex, pulled=True)


# -- engines ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scan_body", "phrases"),
    [
        ("echo 'could not fetch image: boom' >&2; exit 1", ("syft", "status 1", "boom")),
        ("exec sleep 30", ("syft", "TOLLGATE_ENGINE_TIMEOUT")),
        ("echo 'this is not json at all'", ("syft", "cannot read")),
        ('echo \'{"artifacts": "nope", "distro": 7}\'', ("syft", "artifacts")),
    ],
    ids=["crash", "timeout", "garbage", "wrong-shape"],
)
def test_engine_failures(
    scan_body: str, phrases: tuple[str, ...], tiny_layout: Path, out: Path, tmp_path: Path
) -> None:
    env = {
        "TOLLGATE_SYFT_PATH": str(fake_syft(tmp_path, scan_body)),
        "TOLLGATE_ENGINE_TIMEOUT": "1",
    }
    _fails(f"oci-dir:{tiny_layout}:{TAG}", out, tmp_path, *phrases, env=env, pulled=True)


def test_engine_missing(tiny_layout: Path, out: Path, tmp_path: Path) -> None:
    env = {"TOLLGATE_SYFT_PATH": str(tmp_path / "no-such-syft")}
    _fails(
        f"oci-dir:{tiny_layout}:{TAG}",
        out,
        tmp_path,
        "syft",
        "not found",
        "TOLLGATE_SYFT_PATH",
        env=env,
        pulled=True,
    )


# -- configuration ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["sbom", "scan"])
def test_data_directory_that_is_a_file(
    command: str, tiny_layout: Path, out: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.write_text("not a directory")
    run = run_tollgate([command, f"oci-dir:{tiny_layout}:{TAG}", "-o", str(out)], data)
    assert_clean_failure(run, out, "cannot create", str(data), "TOLLGATE_DATA_DIR")
    assert data.read_text() == "not a directory"
