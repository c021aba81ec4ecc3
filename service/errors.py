"""One exception hierarchy for Tollgate.

Every error carries a message a user can act on. ``transient`` marks errors
worth retrying (registry 5xx, timeouts); the CLI maps every TollgateError to
exit status 2 and the API maps classes to HTTP statuses in one place.
"""

from __future__ import annotations


class TollgateError(Exception):
    """Base class: ``str(error)`` is a one-line message that says what to do."""

    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} ({hint})")


class ConfigurationError(TollgateError):
    """A setting is missing, malformed or unsafe."""


class InvalidReferenceError(TollgateError):
    """An image reference could not be parsed."""


class NotFoundError(TollgateError):
    """A named thing (image, tag, scan, policy, key) does not exist."""


class ImageError(TollgateError):
    """The image or its storage is malformed or unsupported."""


class UnsupportedMediaTypeError(ImageError):
    """A manifest, index or layer has a media type Tollgate does not handle."""


class DigestMismatchError(ImageError):
    """Content does not hash to the digest that names it: possible tampering."""


class BlobNotStoredError(ImageError):
    """A blob read while it was being stored was never stored (its download failed)."""


class UnsafeArchiveError(ImageError):
    """A tarball holds path traversal, escaping links, devices or a bomb."""


class RegistryError(TollgateError):
    """The registry answered with an error."""


class RegistryAuthError(RegistryError):
    """401/403 from a registry or its token service."""


class RegistryNotAllowedError(RegistryError):
    """The outbound policy refuses a registry, redirect or token realm (remote requests may
    reach only public addresses and the registries TOLLGATE_ALLOWED_REGISTRIES names)."""


class ManifestUnknownError(RegistryError, NotFoundError):
    """The tag or digest does not exist in the repository."""


class RegistryUnavailableError(RegistryError):
    """The registry is down, timing out or answering 5xx: retry later."""

    transient = True


class EngineError(TollgateError):
    """A scan engine (Syft, Trivy) failed."""


class EngineNotFoundError(EngineError):
    """The engine binary is not installed or not configured."""


class EngineTimeoutError(EngineError):
    """The engine ran past its time limit."""

    transient = True


class EngineOutputError(EngineError):
    """The engine printed something that is not the report we expect."""


class SBOMError(TollgateError):
    """An SBOM could not be produced or failed its schema validation."""


class VulnDBError(TollgateError):
    """Vulnerability feed import or lookup failed."""


class SigningError(TollgateError):
    """Key handling or signing failed."""


class VerificationError(SigningError):
    """A signature or attestation did not verify."""


class PolicyError(TollgateError):
    """A policy document is invalid or could not be evaluated."""


class PolicyConflictError(PolicyError):
    """Another writer stored a version of the same bundle at the same moment."""


class RequestLimitError(TollgateError):
    """An API request exceeds a limit (JSON nesting, images per review)."""


class RequestTooLargeError(RequestLimitError):
    """An API request body is larger than its limit (HTTP 413)."""


class RateLimitedError(RequestLimitError):
    """A caller asked for more than its share (HTTP 429, ``Retry-After`` seconds)."""

    def __init__(self, message: str, *, hint: str | None = None, retry_after: int) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class AuthError(TollgateError):
    """An API caller is not authenticated or lacks the scope."""


class StoreUnavailableError(TollgateError):
    """The service database could not be read or written: retry later."""

    transient = True


class ScopeError(AuthError):
    """Authenticated, but the token lacks the scope the endpoint needs (HTTP 403)."""
