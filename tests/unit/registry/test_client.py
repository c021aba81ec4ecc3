"""RegistryClient against an in-memory Distribution fake at the httpx transport boundary."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from service.errors import (
    DigestMismatchError,
    ManifestUnknownError,
    RegistryAuthError,
    RegistryUnavailableError,
    UnsupportedMediaTypeError,
)
from service.image.cache import BlobCache
from service.registry.client import RegistryClient, uses_plain_http
from service.registry.credentials import Credentials
from tests.unit.registry.fakes import OCI_INDEX, FakeRegistry, build_image, sha

HOST = "127.0.0.1:5000"


def client_for(
    fake: FakeRegistry, sleeps: list[float] | None = None, **kwargs: object
) -> RegistryClient:
    recorded = sleeps if sleeps is not None else []
    return RegistryClient(
        HOST,
        transport=fake.transport(),
        sleep=recorded.append,
        retries=3,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture
def fake() -> FakeRegistry:
    registry = FakeRegistry()
    registry.push("team/app", build_image({"etc/hello": b"hi"}), tag="1.0")
    return registry


def test_get_manifest_by_tag_and_digest_verifies_content(fake: FakeRegistry) -> None:
    client = client_for(fake)
    by_tag = client.get_manifest("team/app", "1.0")
    by_digest = client.get_manifest("team/app", by_tag.digest)
    assert by_tag == by_digest
    assert by_tag.digest == sha(by_tag.content)
    assert client.head_manifest("team/app", "1.0") == by_tag.digest
    assert client.head_manifest("team/app", "nope") is None


def test_unknown_tag_raises_manifest_unknown(fake: FakeRegistry) -> None:
    with pytest.raises(ManifestUnknownError, match="does not exist"):
        client_for(fake).get_manifest("team/app", "2.0")


def test_tampered_manifest_raises_digest_mismatch(fake: FakeRegistry) -> None:
    digest = client_for(fake).get_manifest("team/app", "1.0").digest
    fake.corrupt.add(digest)
    with pytest.raises(DigestMismatchError, match="tampered"):
        client_for(fake).get_manifest("team/app", digest)


def test_tampered_blob_raises_and_leaves_nothing_in_cache(
    fake: FakeRegistry, tmp_path: Path
) -> None:
    client = client_for(fake)
    manifest = json.loads(client.get_manifest("team/app", "1.0").content)
    layer = manifest["layers"][0]["digest"]
    fake.corrupt.add(layer)
    cache = BlobCache(tmp_path)
    with pytest.raises(DigestMismatchError, match=layer):
        client.fetch_blob_to("team/app", layer, cache)
    assert not cache.has(layer)
    assert list(cache.blobs_dir.iterdir()) == []
    with pytest.raises(DigestMismatchError):
        client.get_blob("team/app", layer)


def test_schema1_is_unsupported(fake: FakeRegistry) -> None:
    schema1 = json.dumps({"schemaVersion": 1, "name": "team/app", "fsLayers": []}).encode()
    fake.manifests[("team/app", "old")] = (
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        schema1,
    )
    with pytest.raises(UnsupportedMediaTypeError, match="schema1"):
        client_for(fake).get_manifest("team/app", "old")


def test_5xx_then_success_is_retried_with_backoff(fake: FakeRegistry) -> None:
    fake.failures = [503, 502]
    sleeps: list[float] = []
    manifest = client_for(fake, sleeps).get_manifest("team/app", "1.0")
    assert manifest.digest == sha(manifest.content)
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]


def test_timeouts_exhaust_retries_as_transient_error(fake: FakeRegistry) -> None:
    fake.failures = [httpx.ReadTimeout("slow")] * 4
    sleeps: list[float] = []
    with pytest.raises(RegistryUnavailableError, match="after 4 attempts") as raised:
        client_for(fake, sleeps).get_manifest("team/app", "1.0")
    assert raised.value.transient
    assert len(sleeps) == 3
    assert len(fake.requests) == 4


def test_connect_error_then_success(fake: FakeRegistry, tmp_path: Path) -> None:
    client = client_for(fake)
    layer = json.loads(client.get_manifest("team/app", "1.0").content)["layers"][0]["digest"]
    fake.failures = [httpx.ConnectError("refused"), 429]
    path = client.fetch_blob_to("team/app", layer, BlobCache(tmp_path))
    assert sha(path.read_bytes()) == layer


def test_401_without_challenge_is_auth_error(fake: FakeRegistry) -> None:
    fake.failures = [401]
    with pytest.raises(RegistryAuthError, match="TOLLGATE_REGISTRY_AUTH"):
        client_for(fake).get_manifest("team/app", "1.0")


def test_bearer_challenge_flow_caches_token_per_scope(fake: FakeRegistry) -> None:
    fake.token_auth = True
    client = client_for(fake, credentials=Credentials("alice", "s3cret"))
    first = client.get_manifest("team/app", "1.0")
    client.get_manifest("team/app", first.digest)
    assert len(fake.token_requests) == 1
    token_request = fake.token_requests[0]
    assert token_request.url.params["scope"] == "repository:team/app:pull"
    assert token_request.url.params["service"] == "fake"
    assert token_request.headers["Authorization"].startswith("Basic ")
    assert "s3cret" not in str(token_request.url)
    client.put_blob("team/app", b"new blob")  # push scope: a second token
    assert len(fake.token_requests) == 2


def test_basic_auth_challenge_and_wrong_password(fake: FakeRegistry) -> None:
    fake.basic_auth = ("bob", "pw")
    assert client_for(fake, credentials=Credentials("bob", "pw")).head_manifest("team/app", "1.0")
    with pytest.raises(RegistryAuthError):
        client_for(fake, credentials=Credentials("bob", "wrong")).get_manifest("team/app", "1.0")
    with pytest.raises(RegistryAuthError):
        client_for(fake).get_manifest("team/app", "1.0")


def test_put_blob_skips_present_blob_and_uploads_new_one(fake: FakeRegistry) -> None:
    client = client_for(fake)
    existing = next(iter(fake.blobs.values()))
    assert client.put_blob("team/app", existing) == sha(existing)
    assert fake.count("uploads") == {}
    digest = client.put_blob("team/app", b"signature payload")
    assert fake.blobs[digest] == b"signature payload"
    assert client.get_blob("team/app", digest) == b"signature payload"


def test_put_manifest_and_referrers_fallback_tag(fake: FakeRegistry) -> None:
    client = client_for(fake)
    subject = client.get_manifest("team/app", "1.0").digest
    assert client.get_referrers("team/app", subject) == []
    entry = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": sha(b"x"),
        "size": 1,
        "artifactType": "application/vnd.dev.sigstore.bundle+json",
    }
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}).encode()
    tag = "sha256-" + subject.removeprefix("sha256:")
    assert client.put_manifest("team/app", tag, index, OCI_INDEX) == sha(index)
    assert client.get_referrers("team/app", subject) == [entry]
    assert client.get_referrers("team/app", subject, artifact_type="other/type") == []


def test_fetch_blob_to_skips_cached_blob(fake: FakeRegistry, tmp_path: Path) -> None:
    client = client_for(fake)
    cache = BlobCache(tmp_path)
    layer = json.loads(client.get_manifest("team/app", "1.0").content)["layers"][0]["digest"]
    progress: list[tuple[str, int, int]] = []
    client.fetch_blob_to(
        "team/app", layer, cache, lambda d, done, total: progress.append((d, done, total))
    )
    assert progress[-1][1] == len(fake.blobs[layer])
    before = len(fake.requests)
    client.fetch_blob_to("team/app", layer, cache)
    assert len(fake.requests) == before


@pytest.mark.parametrize(
    ("host", "plain"),
    [
        ("127.0.0.1:5000", True),
        ("127.9.9.9", True),
        ("[::1]:5000", True),
        ("localhost:80", True),
        ("registry.example.com", False),
        ("10.0.0.1:5000", False),
        ("ghcr.io", False),
    ],
)
def test_plain_http_only_for_loopback(host: str, plain: bool) -> None:
    assert uses_plain_http(host) is plain


def test_insecure_registries_setting_allows_plain_http() -> None:
    assert uses_plain_http("reg.internal:5000", ["reg.internal:5000"])


class _RecordingStream(httpx.SyncByteStream):
    """A blob body served in chunks, logging when each chunk is handed out."""

    def __init__(self, chunks: list[bytes], log: list[str]) -> None:
        self._chunks = chunks
        self._log = log

    def __iter__(self):  # type: ignore[no-untyped-def]
        for chunk in self._chunks:
            self._log.append("sent")
            yield chunk


def test_layers_are_streamed_to_the_cache_not_held_in_memory(tmp_path: Path) -> None:
    chunks = [bytes([n]) * (256 << 10) for n in range(4)]
    blob = b"".join(chunks)
    digest = sha(blob)
    log: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=_RecordingStream(chunks, log))

    client = RegistryClient(HOST, transport=httpx.MockTransport(handler))
    progress = lambda _digest, done, _total: log.append("stored")  # noqa: E731
    path = client.fetch_blob_to("team/app", digest, BlobCache(tmp_path), progress, size=len(blob))
    assert path.read_bytes() == blob
    # Each chunk reaches the cache before the next is read from the network.
    assert log[:3] == ["sent", "stored", "sent"]
