"""Signing webhook bodies, and the ``verify`` helper receivers call.

The header follows Stripe's scheme (``stripe/_webhook.py``)::

    Bordercast-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

The HMAC key is the subscription's secret, UTF-8 encoded, used whole (no
prefix stripped, no base64 decoding). The signed message is the decimal
timestamp, a full stop, and the body *exactly as sent*: a receiver must verify
the raw request bytes before parsing the JSON, since re-serialising changes
them. Signing the timestamp with the body lets a receiver refuse replays older
than ``tolerance`` seconds; several ``v1`` entries may appear so a secret can be
rotated without a window where valid deliveries fail.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from forecasting.errors import BordercastError

#: The request header carrying the signature.
SIGNATURE_HEADER = "Bordercast-Signature"
#: The request header carrying the event id; it doubles as the idempotency key.
EVENT_ID_HEADER = "Bordercast-Event-Id"
#: The only signature scheme so far; unknown schemes in a header are ignored.
SCHEME = "v1"
#: Default replay window, in seconds, on either side of the receiver's clock.
DEFAULT_TOLERANCE = 300


class SignatureError(BordercastError, ValueError):
    """A webhook signature is missing, malformed, stale or does not match.

    A receiver answers such a request with 400 (or 401) and drops it.
    """


def compute_signature(timestamp: int, payload: bytes, secret: str) -> str:
    """The hex HMAC-SHA256 of ``b"<timestamp>." + payload`` keyed with ``secret``.

    Parameters
    ----------
    timestamp : int
        Unix time in whole seconds, as it appears after ``t=``.
    payload : bytes
        The request body exactly as sent.
    secret : str
        The subscription's secret; UTF-8 encoded to form the key.
    """
    message = str(int(timestamp)).encode("ascii") + b"." + payload
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Bordercast-Signature`` header value for ``payload``.

    Parameters
    ----------
    payload : bytes
        The body that will be sent, byte for byte.
    secret : str
        The subscription's secret.
    timestamp : int, optional
        Unix seconds to sign with; the current time when omitted (a retry is
        signed afresh, so a delivery that waited in the outbox is not stale).
    """
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},{SCHEME}={compute_signature(t, payload, secret)}"


def parse_header(header: str) -> tuple[int, list[str]]:
    """Split a signature header into its timestamp and its ``v1`` signatures.

    Raises
    ------
    SignatureError
        When the header has no integer ``t`` or no ``v1`` entry.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError(f"signature header has a non-integer t={value!r}") from None
        elif key == SCHEME:
            signatures.append(value.strip())
    if timestamp is None:
        raise SignatureError("signature header has no timestamp (t=...)")
    if not signatures:
        raise SignatureError(f"signature header has no {SCHEME}= signature")
    return timestamp, signatures


def verify(
    payload: bytes,
    header: str,
    secret: str,
    tolerance: int | None = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> int:
    """Check that ``header`` signs ``payload`` with ``secret``, recently.

    Parameters
    ----------
    payload : bytes
        The raw request body, before any JSON parsing.
    header : str
        The ``Bordercast-Signature`` header value.
    secret : str
        The secret given when the subscription was created.
    tolerance : int or None, default 300
        Largest accepted distance, in seconds, between ``t`` and ``now``, in
        either direction (clocks drift both ways). ``None`` turns the check off,
        which only tests of fixed vectors should do.
    now : float, optional
        Unix time to judge freshness against; the current time by default.

    Returns
    -------
    int
        The signed timestamp, for receivers that keep it.

    Raises
    ------
    SignatureError
        When the header is malformed, the timestamp is outside the tolerance,
        or no ``v1`` value matches. Comparison is constant-time
        (``hmac.compare_digest``) so a forger learns nothing from timing.
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp, signatures = parse_header(header)
    expected = compute_signature(timestamp, payload, secret)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("no signature in the header matches the payload and secret")
    if tolerance is not None:
        current = time.time() if now is None else now
        if abs(current - timestamp) > tolerance:
            raise SignatureError(
                f"signature timestamp {timestamp} is more than {tolerance}s "
                f"from now ({int(current)})"
            )
    return timestamp
