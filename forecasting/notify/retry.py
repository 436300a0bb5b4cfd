"""When to try a delivery again, and how long to wait: one rule, one policy.

:func:`check` is the only place that decides whether an answer from a peer is
final (Alertmanager's ``Retrier.Check`` in ``notify/util.go``): 2xx is done;
5xx, timeouts and connection errors are retried with backoff; any other 4xx (and
3xx, since redirects are not followed) fails for good, so a receiver that says
"no" is not hammered. 429 is retried only where the channel opts in. SMTP turns
the reply classes round (4yz transient, 5yz permanent) and :func:`check` knows
that too, so the e-mail channel needs no rule of its own.

:class:`RetryPolicy` turns the attempt count into a delay (exponential, capped,
with optional jitter) and caps the attempts: past ``max_attempts`` a
notification is marked ``failed`` and stays in the outbox, visible.
"""

from __future__ import annotations

import enum
import random
import smtplib
from dataclasses import dataclass
from typing import Any

import httpx

from forecasting.errors import DeliveryError


class Outcome(enum.StrEnum):
    """What one attempt means for its notification."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one attempt, a short reason and the peer's code for the attempts log.

    ``status_code`` is the HTTP status, or the SMTP reply code of a refusal;
    None when the peer never answered. ``unexpected`` marks an error no rule
    covers (most likely a bug), which the caller logs with its traceback.
    """

    outcome: Outcome
    reason: str
    status_code: int | None = None
    unexpected: bool = False


def check(
    status_code: int | None = None,
    error: BaseException | None = None,
    *,
    retry_429: bool = False,
) -> Verdict:
    """Classify one attempt: delivered, retry later, or failed for good.

    Parameters
    ----------
    status_code : int, optional
        The HTTP status the peer answered; ``None`` when there was no answer
        (an error) or the channel has no status (an e-mail accepted by SMTP).
    error : BaseException, optional
        What sending raised, if anything. Timeouts and connection errors
        (``httpx.TransportError``, ``OSError``, ``TimeoutError``) are retried;
        SMTP replies are judged by their code (4yz retried, 5yz permanent);
        a :class:`~forecasting.errors.DeliveryError` carries its own
        ``retryable``; anything else is a permanent failure, so a bug fails a
        notification visibly instead of looping.
    retry_429 : bool, default False
        Whether this channel treats 429 Too Many Requests as transient.
    """
    if error is not None:
        return _check_error(error)
    if status_code is None:
        return Verdict(Outcome.DELIVERED, "accepted")
    code = status_code
    if 200 <= code < 300:
        return Verdict(Outcome.DELIVERED, f"HTTP {code}", code)
    if code == 429:
        if retry_429:
            return Verdict(Outcome.RETRY, "HTTP 429 (rate limited)", code)
        return Verdict(Outcome.FAILED, "HTTP 429 (rate limited; channel does not retry 429)", code)
    if code >= 500:
        return Verdict(Outcome.RETRY, f"HTTP {code}", code)
    return Verdict(Outcome.FAILED, f"HTTP {code} (permanent)", code)


def _check_error(error: BaseException) -> Verdict:
    """The error half of :func:`check`; order matters (SMTP errors are ``OSError``)."""
    text = f"{type(error).__name__}: {error}".strip()
    if isinstance(error, DeliveryError):
        return Verdict(Outcome.RETRY if error.retryable else Outcome.FAILED, error.reason)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = list(error.recipients.values())
        transient = bool(replies) and all(400 <= code < 500 for code, _ in replies)
        code, message = replies[0] if replies else (None, b"")
        reason = f"SMTP recipient refused: {code} {_text(message)}"
        return Verdict(Outcome.RETRY if transient else Outcome.FAILED, reason, code)
    if isinstance(error, smtplib.SMTPResponseException):
        code = error.smtp_code
        outcome = Outcome.RETRY if 400 <= code < 500 else Outcome.FAILED
        return Verdict(outcome, f"SMTP {code} {_text(error.smtp_error)}", code)
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return Verdict(Outcome.FAILED, text)
    if isinstance(error, httpx.TimeoutException | TimeoutError):
        return Verdict(Outcome.RETRY, f"timeout ({text})")
    if isinstance(error, httpx.TransportError | OSError):
        return Verdict(Outcome.RETRY, f"connection error ({text})")
    return Verdict(Outcome.FAILED, f"unexpected error ({text})", unexpected=True)


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap on the delay and on the attempts.

    Attempt ``n`` (1-based) that asks for a retry waits
    ``min(max_delay, initial_delay * factor ** (n - 1))`` seconds, stretched by
    up to ``jitter`` (a fraction) so that receivers coming back are not hit by
    every sender at once. With the defaults the waits are 1, 2, 4, ... 256
    minutes, then 6 h, and the 12th attempt, about 20.5 hours after the first,
    is the last: a receiver down overnight still gets its alerts, one gone for
    good is given up on within a day.
    """

    max_attempts: int = 12
    initial_delay: float = 60.0
    factor: float = 2.0
    max_delay: float = 6 * 3600.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.max_delay < 0:
            raise ValueError("initial_delay and max_delay must be >= 0 seconds")
        if self.factor < 1:
            raise ValueError(f"factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter}")

    @classmethod
    def from_settings(cls, settings: Any) -> RetryPolicy:
        """The policy from ``BORDERCAST_NOTIFY_*`` settings, defaults where unset."""
        default = cls()
        return cls(
            max_attempts=getattr(settings, "notify_max_attempts", default.max_attempts),
            initial_delay=getattr(settings, "notify_initial_delay", default.initial_delay),
            factor=getattr(settings, "notify_backoff_factor", default.factor),
            max_delay=getattr(settings, "notify_max_delay", default.max_delay),
            jitter=getattr(settings, "notify_jitter", default.jitter),
        )

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        A peer's ``Retry-After`` is honoured when longer than the backoff, but
        never beyond ``max_delay``.
        """
        base = min(self.max_delay, self.initial_delay * self.factor ** (attempt - 1))
        if self.jitter:
            base *= 1 + random.uniform(0, self.jitter)
        if retry_after is not None:
            base = max(base, retry_after)
        return min(base, self.max_delay)

    def schedule(self) -> list[float]:
        """The waits between attempts without jitter: the documented give-up horizon."""
        plain = RetryPolicy(
            self.max_attempts, self.initial_delay, self.factor, self.max_delay, jitter=0
        )
        return [plain.delay(n) for n in range(1, self.max_attempts)]
