"""Tollgate's OCI distribution client (httpx): the ``Registry`` contract plus blob streaming.

Every manifest and blob is digest-verified. 5xx, 429, connect errors and timeouts are
retried with exponential backoff, then raised as RegistryUnavailableError (transient).
Plain HTTP is used only for loopback hosts and ``settings.insecure_registries``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import TypeVar

import httpx

from service.errors import (
    DigestMismatchError,
    ImageError,
    ManifestUnknownError,
    NotFoundError,
    RegistryAuthError,
    RegistryError,
    RegistryUnavailableError,
    UnsupportedMediaTypeError,
)
from service.image.cache import BlobCache, ProgressCallback
from service.image.digest import (
    DigestWriter,
    digest_hex,
    mismatch,
    sha256_digest,
    validate_digest,
)
from service.image.manifest import (
    ALL_MANIFEST_TYPES,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    detect_media_type,
)
from service.registry.auth import AUTH_HINT, RegistryAuth, keep_credentials_home
from service.registry.breaker import CircuitBreaker
from service.registry.credentials import Credentials, CredentialSource
from service.registry.interface import Manifest
from service.registry.outbound import OutboundPolicy

logger = logging.getLogger(__name__)

T = TypeVar("T")

DOCKER_HUB_API = "registry-1.docker.io"
_HUB_NAMES = frozenset({"docker.io", "index.docker.io"})
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_BACKOFF_S = 30.0
_REPOSITORY = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_CHUNK = 1 << 20
_ERROR_LOG_BYTES = 200


def uses_plain_http(host: str, insecure_registries: Collection[str] = ()) -> bool:
    """True for loopback hosts (127.0.0.0/8, ::1, localhost) and explicitly insecure ones."""
    if host in insecure_registries:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name in insecure_registries or name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class _RetryableStatus(RegistryUnavailableError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, hint="retry later")
        self.retry_after = retry_after


class RegistryClient:
    """One registry host (``host[:port]``, Docker Hub as ``index.docker.io``).

    ``credentials``: fixed ones, or a source that is asked again when the registry refuses
    the credentials in use (:class:`~service.registry.auth.RegistryAuth`).
    """

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | CredentialSource | None = None,
        insecure_registries: Collection[str] = (),
        timeout: float = 30.0,
        retries: int = 4,
        transport: httpx.BaseTransport | None = None,
        outbound: OutboundPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 0.5,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        """``outbound``: what the client may reach (default: unrestricted); ``transport``
        replaces the one the policy builds (tests, a caller's bearer token)."""
        self.host = host
        self._breaker = breaker
        self._retries = max(retries, 0)
        self._sleep = sleep
        self._backoff = backoff
        scheme = "http" if uses_plain_http(host, insecure_registries) else "https"
        api_host = DOCKER_HUB_API if host in _HUB_NAMES else host
        base_url = httpx.URL(f"{scheme}://{api_host}")
        outbound = outbound or OutboundPolicy.unrestricted()
        outbound.check_registry(base_url.host, base_url.port or (80 if scheme == "http" else 443))
        auth = RegistryAuth(
            credentials,
            plain_http_ok=lambda h: uses_plain_http(h, insecure_registries),
            realm_ok=lambda realm: outbound.may_send_credentials(base_url, realm),
        )
        self._http = httpx.Client(
            base_url=base_url,
            auth=auth,
            transport=transport or outbound.transport(),
            timeout=timeout,
            follow_redirects=True,
            headers={"User-Agent": "tollgate/0.1"},
            event_hooks={"request": [keep_credentials_home]},
        )

    def close(self) -> None:
        self._http.close()

    # -- the Registry contract -------------------------------------------------------

    def get_manifest(
        self, repository: str, reference: str, *, accept: Sequence[str] | None = None
    ) -> Manifest:
        path = self._manifest_path(repository, reference)
        types = tuple(accept or ALL_MANIFEST_TYPES)
        what = f"manifest {self.host}/{repository}:{reference}"

        def attempt() -> tuple[httpx.Response, bytes]:
            with self._send("GET", path, what, headers={"Accept": ", ".join(types)}) as response:
                self._raise_for_status(response, what, not_found=self._manifest_unknown)
                return response, _read_capped(response, MAX_MANIFEST_SIZE, what)

        response, content = self._retrying(what, attempt)
        media_type = detect_media_type(content, response.headers.get("Content-Type"))
        if media_type not in types:
            raise UnsupportedMediaTypeError(
                f"{what} has media type {media_type!r}; expected one of {', '.join(types)}",
                hint="Tollgate reads Docker v2 schema 2 and OCI images; schema1 is not supported",
            )
        digest = sha256_digest(content)
        expected = reference if ":" in reference else response.headers.get("Docker-Content-Digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise mismatch(expected, digest, what)
        return Manifest(media_type=media_type, digest=digest, content=content)

    def head_manifest(self, repository: str, reference: str) -> str | None:
        path = self._manifest_path(repository, reference)
        what = f"manifest {self.host}/{repository}:{reference}"

        def attempt() -> str | None:
            accept = ", ".join(ALL_MANIFEST_TYPES)
            with self._send("HEAD", path, what, headers={"Accept": accept}) as response:
                if response.status_code == 404:
                    return None
                self._raise_for_status(response, what)
                return response.headers.get("Docker-Content-Digest") or ""

        digest = self._retrying(what, attempt)
        if digest == "":  # registry did not say: fetch and hash it ourselves
            return self.get_manifest(repository, reference).digest
        return digest

    def get_blob(self, repository: str, digest: str, *, max_size: int = 16 << 20) -> bytes:
        path = f"/v2/{_repository(repository)}/blobs/{validate_digest(digest)}"
        what = f"blob {digest} in {self.host}/{repository}"

        def attempt() -> bytes:
            with self._send("GET", path, what) as response:
                self._raise_for_status(response, what, not_found=_blob_unknown)
                return _read_capped(response, max_size, what)

        content = self._retrying(what, attempt)
        actual = sha256_digest(content)
        if actual != digest:
            raise mismatch(digest, actual, what)
        return content

    def put_blob(self, repository: str, data: bytes) -> str:
        digest = sha256_digest(data)
        name = _repository(repository)
        what = f"upload of blob {digest} to {self.host}/{repository}"
        if self._blob_exists(name, digest, what):
            return digest

        def attempt() -> None:
            with self._send("POST", f"/v2/{name}/blobs/uploads/", what) as started:
                self._raise_for_status(started, what)
                location = started.headers.get("Location")
            if not location:
                raise RegistryError(f"{what}: registry gave no upload location")
            url = started.url.join(location)
            url = url.copy_merge_params({"digest": digest})
            headers = {"Content-Type": "application/octet-stream"}
            with self._send("PUT", url, what, headers=headers, content=data) as finished:
                self._raise_for_status(finished, what)

        self._retrying(what, attempt)
        logger.info("uploaded blob %s to %s/%s", digest, self.host, repository)
        return digest

    def put_manifest(self, repository: str, reference: str, content: bytes, media_type: str) -> str:
        path = self._manifest_path(repository, reference)
        digest = sha256_digest(content)
        what = f"push of manifest {self.host}/{repository}:{reference}"
        if ":" in reference and reference != digest:
            raise mismatch(reference, digest, what)

        def attempt() -> str | None:
            headers = {"Content-Type": media_type}
            with self._send("PUT", path, what, headers=headers, content=content) as response:
                self._raise_for_status(response, what)
                answered: str | None = response.headers.get("Docker-Content-Digest")
                return answered

        answered = self._retrying(what, attempt)
        if answered and answered != digest:
            raise mismatch(digest, answered, f"{what} (registry's digest)")
        return digest

    def get_referrers(
        self, repository: str, digest: str, *, artifact_type: str | None = None
    ) -> list[dict[str, object]]:
        path = f"/v2/{_repository(repository)}/referrers/{validate_digest(digest)}"
        what = f"referrers of {self.host}/{repository}@{digest}"
        params = {"artifactType": artifact_type} if artifact_type else None

        def attempt() -> tuple[bytes, bool] | None:
            with self._send("GET", path, what, params=params) as response:
                if response.status_code == 404:
                    return None
                self._raise_for_status(response, what)
                filtered = "artifactType" in response.headers.get("OCI-Filters-Applied", "")
                return _read_capped(response, MAX_MANIFEST_SIZE, what), filtered

        answer = self._retrying(what, attempt)
        if answer is None:  # no referrers API: the sha256-<hex> tag schema
            try:
                fallback = self.get_manifest(
                    repository, f"sha256-{digest_hex(digest)}", accept=[OCI_INDEX]
                )
            except ManifestUnknownError:
                return []
            answer = (fallback.content, False)
        content, filtered = answer
        entries = _index_entries(content, what)
        if artifact_type and not filtered:
            entries = [e for e in entries if e.get("artifactType") == artifact_type]
        return entries

    # -- streaming --------------------------------------------------------------------

    def fetch_blob_to(
        self,
        repository: str,
        digest: str,
        cache: BlobCache,
        progress: ProgressCallback | None = None,
        *,
        size: int | None = None,
    ) -> Path:
        """Stream a (large) blob into the cache, verified; no request if already cached."""
        if cache.has(digest):
            return cache.path(digest)
        path = f"/v2/{_repository(repository)}/blobs/{validate_digest(digest)}"
        what = f"blob {digest} in {self.host}/{repository}"

        def attempt() -> None:
            with self._send("GET", path, what) as response:
                self._raise_for_status(response, what, not_found=_blob_unknown)
                total = size or int(response.headers.get("Content-Length") or 0)
                with cache.writer(digest, what) as sink:
                    for chunk in response.iter_bytes():
                        sink.write(chunk)
                        if size is not None and sink.size > size:
                            raise DigestMismatchError(
                                f"{what} is longer than the {size} bytes its descriptor says: "
                                "the content may have been tampered with"
                            )
                        if progress is not None and sink.size < total:
                            progress(digest, sink.size, total)
                if progress is not None:  # "done" only once the blob is verified and stored
                    progress(digest, sink.size, sink.size)

        self._retrying(what, attempt)
        return cache.path(digest)

    # -- plumbing -----------------------------------------------------------------------

    def _blob_exists(self, name: str, digest: str, what: str) -> bool:
        def attempt() -> bool:
            with self._send("HEAD", f"/v2/{name}/blobs/{digest}", what) as response:
                if response.status_code == 404:
                    return False
                self._raise_for_status(response, what)
                return True

        return self._retrying(what, attempt)

    def _manifest_path(self, repository: str, reference: str) -> str:
        if ":" in reference:
            validate_digest(reference)
        elif not _TAG.match(reference):
            raise ImageError(f"invalid tag {reference!r}")
        return f"/v2/{_repository(repository)}/manifests/{reference}"

    def _send(
        self,
        method: str,
        url: str | httpx.URL,
        what: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> _OpenResponse:
        request = self._http.build_request(
            method, url, headers=headers, content=content, params=params
        )
        response = self._http.send(request, stream=True)
        if response.status_code in _RETRY_STATUSES:
            response.close()
            raise _RetryableStatus(
                f"{what}: {self.host} answered {response.status_code}",
                _retry_after(response),
            )
        return _OpenResponse(response)

    def _retrying(self, what: str, attempt: Callable[[], T]) -> T:
        if self._breaker is not None:
            self._breaker.check(self.host)
        attempts = self._retries + 1
        for number in range(1, attempts + 1):
            try:
                answer = attempt()
            except (httpx.TransportError, RegistryUnavailableError) as exc:
                if number == attempts:
                    if self._breaker is not None:
                        self._breaker.failed(self.host)
                    cause = (
                        exc.message.removeprefix(f"{what}: ")
                        if isinstance(exc, RegistryUnavailableError)
                        else f"{type(exc).__name__}: {exc}"
                    )
                    raise RegistryUnavailableError(
                        f"{what}: registry {self.host} unavailable after {attempts} attempts "
                        f"({cause})",
                        hint="the registry is down or overloaded; retry later",
                    ) from exc
                delay = min(self._backoff * 2 ** (number - 1), _MAX_BACKOFF_S)
                if isinstance(exc, _RetryableStatus):
                    delay = max(delay, exc.retry_after)
                logger.info("%s failed (%s); retry %d in %.1fs", what, exc, number, delay)
                self._sleep(delay)
            else:
                if self._breaker is not None:
                    self._breaker.succeeded(self.host)
                return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for_status(
        self,
        response: httpx.Response,
        what: str,
        not_found: Callable[[str], Exception] | None = None,
    ) -> None:
        status = response.status_code
        if status < 400:
            return
        if status in (401, 403):
            raise RegistryAuthError(f"{what}: {self.host} denied access ({status})", hint=AUTH_HINT)
        if status == 404 and not_found is not None:
            raise not_found(what)
        _log_error_body(response, what)
        raise RegistryError(f"{what}: {self.host} answered {status}")

    def _manifest_unknown(self, what: str) -> Exception:
        return ManifestUnknownError(
            f"{what} does not exist", hint="check the repository and tag (or digest) are right"
        )


class _OpenResponse:
    """A streamed response that is closed when its ``with`` block ends."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc: object) -> None:
        self.response.close()


def _blob_unknown(what: str) -> Exception:
    return NotFoundError(f"{what} does not exist", hint="the image in the registry is incomplete")


def _repository(name: str) -> str:
    if not _REPOSITORY.match(name):
        raise ImageError(f"invalid repository name {name!r}", hint="use lowercase path components")
    return name


def _read_capped(response: httpx.Response, limit: int, what: str) -> bytes:
    writer = DigestWriter()
    chunks: list[bytes] = []
    for chunk in response.iter_bytes(_CHUNK):
        writer.update(chunk)
        if writer.size > limit:
            raise ImageError(f"{what} is larger than {limit} bytes: refusing to read it")
        chunks.append(chunk)
    return b"".join(chunks)


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    return min(float(value), _MAX_BACKOFF_S) if value.isdigit() else 0.0


def _log_error_body(response: httpx.Response, what: str) -> None:
    """The start of an error answer, at debug level only: a remote body is never put in an
    error message (callers of the API would read back what any host answered)."""
    if logger.isEnabledFor(logging.DEBUG):
        body = next(response.iter_bytes(_ERROR_LOG_BYTES), b"")[:_ERROR_LOG_BYTES]
        logger.debug("%s answered: %r", what, body)


def _index_entries(content: bytes, what: str) -> list[dict[str, object]]:
    try:
        manifests = json.loads(content).get("manifests") or []
    except (ValueError, AttributeError) as exc:
        raise ImageError(f"{what}: the registry answered a malformed index") from exc
    return [entry for entry in manifests if isinstance(entry, dict)]
