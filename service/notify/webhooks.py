"""POST signed event notifications to the configured URLs, retrying transient failures.

A notification that still fails after its retries is logged and dropped: it never
fails the scan that produced it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from service.notify.signing import SIGNATURE_HEADER, sign
from service.secret import Secret

logger = logging.getLogger(__name__)

SCAN_COMPLETED = "scan.completed"
SCAN_FAILED = "scan.failed"
POLICY_FAILED = "policy.failed"
VULNERABILITY_NEW = "vulnerability.new"


class Notifier(Protocol):
    def send(self, event: str, data: dict[str, Any]) -> None: ...


class WebhookNotifier:
    def __init__(
        self,
        urls: Sequence[str],
        secret: Secret | None,
        client: httpx.Client,
        *,
        attempts: int = 4,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._urls = tuple(urls)
        self._secret = secret
        self._client = client
        self._attempts = attempts
        self._backoff = backoff
        self._sleep = sleep

    def send(self, event: str, data: dict[str, Any]) -> None:
        if not self._urls:
            return
        body = json.dumps(
            {
                "id": uuid.uuid4().hex,
                "event": event,
                "created_at": datetime.now(UTC).isoformat(),
                "data": data,
            },
            sort_keys=True,
            default=str,
        ).encode()
        headers = {"Content-Type": "application/json", "X-Tollgate-Event": event}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self._secret.get_secret_value().encode())
        for url in self._urls:
            self._deliver(url, body, headers, event)

    def _deliver(self, url: str, body: bytes, headers: dict[str, str], event: str) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                response = self._client.post(url, content=body, headers=headers)
            except httpx.HTTPError as error:
                reason = type(error).__name__
            else:
                if response.status_code < 500 and response.status_code != 429:
                    if response.is_error:
                        logger.warning(
                            "notification %s to %s refused: HTTP %d",
                            event,
                            url,
                            response.status_code,
                        )
                    return
                reason = f"HTTP {response.status_code}"
            if attempt < self._attempts:
                self._sleep(self._backoff * 2 ** (attempt - 1))
        logger.warning(
            "notification %s to %s failed after %d attempts (%s)",
            event,
            url,
            self._attempts,
            reason,
        )
