"""Docker credential helpers: ``docker-credential-NAME get`` run as a subprocess.

The protocol (https://docs.docker.com/reference/cli/docker/login/#credential-helper-protocol):
the server URL goes to the helper's stdin; it prints ``{"ServerURL", "Username", "Secret"}``
or, exiting non-zero, ``credentials not found in native keychain``. A Username of
``<token>`` means Secret is an identity (OAuth2 refresh) token.

Nothing the helper prints is put in an error message or a log: its stdout holds the secret,
and its stderr is discarded for the same reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field

from service.errors import ConfigurationError, RegistryAuthError

logger = logging.getLogger(__name__)

PROGRAM_PREFIX = "docker-credential-"
IDENTITY_TOKEN_USERNAME = "<token>"  # noqa: S105 (a marker, not a secret)
_NOT_FOUND = b"credentials not found"


@dataclass(frozen=True)
class HelperAnswer:
    """What ``get`` printed: a username and password, or an identity token."""

    username: str
    secret: str = field(repr=False)

    @property
    def is_identity_token(self) -> bool:
        return self.username == IDENTITY_TOKEN_USERNAME


class CredentialHelper:
    """One helper program; ``get`` runs it once per call (callers cache the answer)."""

    def __init__(self, name: str, *, timeout: float, origin: str) -> None:
        """``origin`` says where the helper is configured, e.g. ``credsStore in <path>``."""
        self.program = PROGRAM_PREFIX + name
        self._timeout = timeout
        self._origin = origin

    def get(self, server_url: str) -> HelperAnswer | None:
        """The credentials stored for ``server_url``; None when the helper has none."""
        returncode, stdout = self._run(server_url)
        if returncode != 0:
            if stdout.strip().lower().startswith(_NOT_FOUND):
                logger.debug("%s has no credentials for %s", self.program, server_url)
                return None
            raise RegistryAuthError(
                f"credential helper {self.program} failed for {server_url} "
                f"(exit status {returncode})",
                hint=f"log in again (docker login {server_url}) or check the helper's "
                f"own setup ({self._origin})",
            )
        answer = _parse(stdout)
        if answer is None:
            raise RegistryAuthError(
                f"credential helper {self.program} printed something that is not credentials "
                f"for {server_url}",
                hint=f"the helper must print JSON with Username and Secret; fix or replace "
                f"it ({self._origin})",
            )
        if not answer.secret:
            logger.debug("%s has an empty secret for %s", self.program, server_url)
            return None
        return answer

    def _run(self, server_url: str) -> tuple[int, bytes]:
        path = shutil.which(self.program)
        if path is None:
            raise ConfigurationError(
                f"credential helper {self.program} ({self._origin}) is not on PATH",
                hint=f"install {self.program}, or remove it from that file, or set "
                "TOLLGATE_REGISTRY_AUTH or TOLLGATE_DOCKER_CONFIG",
            )
        logger.debug("asking %s for %s's credentials", self.program, server_url)
        try:
            # its own session, so that a timeout also stops what the helper started
            with subprocess.Popen(
                [path, "get"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            ) as process:
                try:
                    stdout, _ = process.communicate(server_url.encode(), timeout=self._timeout)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    raise RegistryAuthError(
                        f"credential helper {self.program} did not answer for {server_url} "
                        f"within {self._timeout:g} s",
                        hint="check that it can reach its store (a locked keychain or a "
                        "prompt waiting for input also stops it); TOLLGATE_REGISTRY_TIMEOUT "
                        "sets the limit",
                    ) from None
        except OSError as exc:
            raise ConfigurationError(
                f"cannot run credential helper {path}: {exc.strerror or type(exc).__name__}",
                hint=f"check that it is an executable program ({self._origin})",
            ) from None
        return process.returncode, stdout


def _parse(stdout: bytes) -> HelperAnswer | None:
    try:
        document = json.loads(stdout)
    except ValueError:  # also UnicodeDecodeError; its text would quote the output
        return None
    if not isinstance(document, dict):
        return None
    username, secret = document.get("Username"), document.get("Secret")
    if not (isinstance(username, str) and isinstance(secret, str)):
        return None
    return HelperAnswer(username, secret)
