"""The e-mail channel: one message per notification over SMTP (stdlib ``smtplib``).

A new connection per message keeps the channel stateless between the rare
alerts; connection errors, timeouts and SMTP 4yz replies surface as exceptions
that :func:`forecasting.notify.retry.check` classifies (retried), 5yz replies as
permanent failures.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

from forecasting.notify.message import Notification, SendResult
from forecasting.notify.signing import EVENT_ID_HEADER

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SMTPConfig:
    """Where and how to send mail (``BORDERCAST_SMTP_*``).

    Attributes
    ----------
    host, port : str, int
        The SMTP server (submission on 587 with ``starttls`` in production; the
        compose file's catcher listens on 1025 without TLS).
    starttls : bool
        Upgrade with STARTTLS before authenticating; a server that does not
        offer it fails the delivery permanently rather than sending in clear.
    user, password : str, optional
        Log in when ``user`` is set.
    sender : str
        The ``From`` address.
    timeout : float
        Seconds for connecting and for each SMTP command.
    tls_context : ssl.SSLContext, optional
        The context for STARTTLS; the system's default trust store when None
        (tests pass one that trusts their own certificate).
    """

    host: str = "127.0.0.1"
    port: int = 1025
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "bordercast@localhost"
    timeout: float = 10.0
    tls_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_settings(cls, settings: Any) -> SMTPConfig:
        """The configuration from ``BORDERCAST_SMTP_*``; ``smtp_timeout`` defaults to 10 s."""
        password = settings.smtp_password
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            starttls=settings.smtp_starttls,
            user=settings.smtp_user,
            password=password.get_secret_value() if password is not None else None,
            sender=settings.smtp_sender,
            timeout=getattr(settings, "smtp_timeout", 10.0),
        )


def build_message(
    sender: str, to: str, subject: str, body: str, event_id: str, notification_id: int
) -> EmailMessage:
    """The MIME message; the event id goes in a header so mail filters can dedupe."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = f"<{event_id}.{notification_id}@bordercast>"
    message[EVENT_ID_HEADER] = event_id
    message.set_content(body)
    return message


def send_email(config: SMTPConfig, message: EmailMessage) -> None:
    """Send ``message`` through ``config``'s server, raising what ``smtplib`` raises.

    Raises
    ------
    OSError, TimeoutError, smtplib.SMTPException
        Left for :func:`forecasting.notify.retry.check` to classify.
    """
    with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
        smtp.ehlo()
        if config.starttls:
            smtp.starttls(context=config.tls_context or ssl.create_default_context())
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password or "")
        smtp.send_message(message)


class EmailChannel:
    """Sends e-mail notifications; ``retry_429`` is meaningless for SMTP and False."""

    name = "email"
    retry_429 = False

    def __init__(self, config: SMTPConfig) -> None:
        self.config = config

    def send(self, notification: Notification) -> SendResult:
        """Send one notification; raising means not accepted by the server."""
        message = build_message(
            self.config.sender,
            notification.target,
            notification.subject or "[Bordercast] alert",
            notification.body,
            notification.event_id,
            notification.id,
        )
        send_email(self.config, message)
        return SendResult()

    def close(self) -> None:
        """Nothing to release: each message opens its own connection."""
