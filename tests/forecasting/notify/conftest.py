"""Real peers for the delivery tests: an SMTP server, an HTTP receiver, a database.

The SMTP server is aiosmtpd on 127.0.0.1; the webhook receiver is a stdlib
``http.server`` in a thread that checks every request with the documented
:func:`forecasting.notify.verify` and can be told to fail, stall or go away.
Both listen on ports picked free at start, so suites can run side by side.
"""

from __future__ import annotations

import datetime as dt
import functools
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import Engine

from forecasting.notify import (
    AlertEvent,
    Channels,
    RetryPolicy,
    SignatureError,
    create_tables,
    verify,
)
from forecasting.notify.email import EmailChannel, SMTPConfig
from forecasting.notify.webhook import WebhookChannel, WebhookConfig
from forecasting.store import make_engine

SECRET = "whsec_receiver_secret_for_tests"
#: Jitter off, so the backoff is exact; three attempts, so giving up is quick to reach.
POLICY = RetryPolicy(max_attempts=3, initial_delay=60.0, factor=2.0, max_delay=3600.0, jitter=0)
NOW = dt.datetime(2024, 1, 15, 12, 0, tzinfo=dt.UTC)
BASE_URL = "https://bordercast.example.org"


def free_port() -> int:
    """A port nothing listens on right now (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """The notify tables on a fresh SQLite file (or the PostgreSQL test database)."""
    engine = make_engine(db_url)
    create_tables(engine)
    yield engine
    engine.dispose()


def make_event(**overrides: Any) -> AlertEvent:
    """A surge of Chinese nationals at the southwest border, as the alert code would pass it."""
    values: dict[str, Any] = {
        "id": "alert-CN-southwest-usbp-2023-07",
        "citizenship": "CN",
        "citizenship_name": "China",
        "region": "southwest",
        "component": "usbp",
        "month": "2023-07",
        "kind": "surge",
        "severity": "warning",
        "observed": 4012,
        "expected": 1180.4,
        "lower": 702.0,
        "upper": 1650.0,
        "status": "open",
        "transition": "opened",
    }
    values.update(overrides)
    return AlertEvent(**values)


# --------------------------------------------------------------------------- SMTP


class Inbox:
    """aiosmtpd handler keeping every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.reject_with: str | None = None

    async def handle_RCPT(
        self, server: SMTPServer, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.reject_with:
            return self.reject_with
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@dataclass
class SMTPPeer:
    inbox: Inbox
    config: SMTPConfig


@pytest.fixture
def smtp_server() -> Iterator[SMTPPeer]:
    """An aiosmtpd server on 127.0.0.1 without TLS (like the compose file's catcher)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SMTPPeer(inbox, SMTPConfig(host="127.0.0.1", port=port, timeout=2.0))
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (EC, so it is made in milliseconds)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def smtp_tls_server(tls_files: tuple[Path, Path]) -> Iterator[SMTPPeer]:
    """An SMTP server that requires STARTTLS and a login (user ``alerts``, password ``s3cret``)."""
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    def authenticator(
        server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            b"alerts",
            b"s3cret",
        )
        return AuthResult(success=ok)

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    client_context = ssl.create_default_context(cafile=str(cert))
    config = SMTPConfig(
        host="127.0.0.1",
        port=port,
        starttls=True,
        user="alerts",
        password="s3cret",
        timeout=2.0,
        tls_context=client_context,
    )
    try:
        yield SMTPPeer(inbox, config)
    finally:
        controller.stop()


# --------------------------------------------------------------------------- HTTP


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str | None


@dataclass
class Receiver:
    """A webhook receiver that verifies signatures; ``mode`` sets how it answers.

    ``ok`` answers 200 when the signature verifies (400 otherwise); ``slow``
    sleeps ``delay`` seconds first; an int answers that status.
    """

    secret: str = SECRET
    port: int = field(default_factory=free_port)
    mode: str | int = "ok"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/bordercast"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                try:
                    verify(body, self.headers.get("Bordercast-Signature", ""), receiver.secret)
                    verified, error = True, None
                except SignatureError as exc:
                    verified, error = False, str(exc)
                receiver.requests.append(Received(dict(self.headers), body, verified, error))
                if receiver.mode == "slow":
                    time.sleep(receiver.delay)
                if isinstance(receiver.mode, int):
                    status = receiver.mode
                else:
                    status = 200 if verified else 400
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True).start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running webhook receiver on 127.0.0.1."""
    peer = Receiver()
    peer.start()
    yield peer
    peer.stop()


@pytest.fixture
def down_receiver() -> Iterator[Receiver]:
    """A receiver whose port has nothing listening yet; ``start()`` brings it up."""
    peer = Receiver()
    yield peer
    peer.stop()


@functools.lru_cache(maxsize=32)
def channels(
    smtp: SMTPConfig | None = None, timeout: float = 1.0, retry_429: bool = True
) -> Channels:
    """Both channels with short timeouts; e-mail to a closed port when no server is given.

    Cached, because building an ``httpx.Client`` (its TLS context) costs ~50 ms.
    """
    return Channels(
        {
            "email": EmailChannel(smtp or SMTPConfig(port=free_port(), timeout=timeout)),
            "webhook": WebhookChannel(WebhookConfig(timeout=timeout, retry_429=retry_429)),
        }
    )
