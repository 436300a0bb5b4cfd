"""The webhook channel: a signed JSON POST per notification, with ``httpx``.

The body is the JSON queued in the outbox, sent byte for byte; the signature is
computed over those bytes at send time (see :mod:`forecasting.notify.signing`).
Redirects are not followed: a 3xx is an answer like any other non-2xx, and
:func:`forecasting.notify.retry.check` treats it as permanent.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from forecasting.notify.message import Notification, SendResult
from forecasting.notify.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

USER_AGENT = "Bordercast-Webhooks/1"


@dataclass(frozen=True)
class WebhookConfig:
    """How webhooks are sent (``BORDERCAST_WEBHOOK_*``).

    Attributes
    ----------
    timeout : float
        Seconds for connect, read and write each; a slower receiver counts as
        a timeout and is retried.
    retry_429 : bool
        Whether 429 Too Many Requests is retried (honouring ``Retry-After``)
        rather than failing the notification.
    """

    timeout: float = 10.0
    retry_429: bool = True

    @classmethod
    def from_settings(cls, settings: Any) -> WebhookConfig:
        """The configuration from settings, defaults where unset."""
        default = cls()
        return cls(
            timeout=getattr(settings, "webhook_timeout", default.timeout),
            retry_429=getattr(settings, "webhook_retry_429", default.retry_429),
        )


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - (now or dt.datetime.now(dt.UTC))).total_seconds())


def post(client: httpx.Client, url: str, body: bytes, secret: str, event_id: str) -> httpx.Response:
    """POST ``body`` to ``url``, signed now with ``secret``; raises ``httpx`` errors."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: event_id,
        SIGNATURE_HEADER: sign(body, secret),
    }
    return client.post(url, content=body, headers=headers)


class WebhookChannel:
    """Sends webhook notifications over one reused ``httpx.Client``."""

    name = "webhook"

    def __init__(self, config: WebhookConfig | None = None) -> None:
        self.config = config or WebhookConfig()
        self.retry_429 = self.config.retry_429
        self._client: httpx.Client | None = None

    @property
    def client(self) -> httpx.Client:
        """Created on first use, so building a channel costs nothing when no webhook is due."""
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self.config.timeout), follow_redirects=False
            )
        return self._client

    def send(self, notification: Notification) -> SendResult:
        """POST one notification; the status code is judged by the retry rule, not here."""
        if not notification.secret:
            raise ValueError(f"webhook subscription {notification.subscription_id} has no secret")
        response = post(
            self.client,
            notification.target,
            notification.body.encode("utf-8"),
            notification.secret,
            notification.event_id,
        )
        return SendResult(
            status_code=response.status_code,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def close(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            self._client.close()
            self._client = None
