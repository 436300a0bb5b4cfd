"""The retry rule and the backoff policy."""

from __future__ import annotations

import smtplib

import httpx
import pytest

from forecasting.errors import DeliveryError
from forecasting.notify.retry import Outcome, RetryPolicy, check
from forecasting.settings import Settings

D, R, F = Outcome.DELIVERED, Outcome.RETRY, Outcome.FAILED


@pytest.mark.parametrize(
    ("status", "retry_429", "expected"),
    [
        (200, False, D),
        (204, False, D),
        (299, False, D),
        (301, False, F),
        (400, False, F),
        (401, False, F),
        (404, False, F),
        (410, False, F),
        (429, False, F),
        (429, True, R),
        (500, False, R),
        (502, False, R),
        (503, True, R),
    ],
)
def test_http_status_rule(status: int, retry_429: bool, expected: Outcome) -> None:
    assert check(status, retry_429=retry_429).outcome is expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (httpx.ConnectError("refused"), R),
        (httpx.ReadTimeout("slow"), R),
        (ConnectionRefusedError(111, "refused"), R),
        (TimeoutError("timed out"), R),
        (smtplib.SMTPServerDisconnected("gone"), R),
        (smtplib.SMTPResponseException(451, b"try later"), R),
        (smtplib.SMTPRecipientsRefused({"a@b.org": (450, b"busy")}), R),
        (smtplib.SMTPRecipientsRefused({"a@b.org": (550, b"no such user")}), F),
        (smtplib.SMTPAuthenticationError(535, b"bad credentials"), F),
        (smtplib.SMTPNotSupportedError("STARTTLS extension not supported"), F),
        (DeliveryError("receiver said later", retryable=True), R),
        (DeliveryError("receiver said never", retryable=False), F),
        (KeyError("bug"), F),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else str(v),
)
def test_error_rule(error: BaseException, expected: Outcome) -> None:
    assert check(None, error).outcome is expected


def test_email_accepted_without_status_is_delivered() -> None:
    assert check(None, None).outcome is D


def test_default_backoff_gives_up_within_a_day() -> None:
    policy = RetryPolicy()
    waits = policy.schedule()
    assert len(waits) == policy.max_attempts - 1 == 11
    assert waits[:3] == [60.0, 120.0, 240.0]
    assert max(waits) == 6 * 3600
    assert 20 * 3600 < sum(waits) < 21 * 3600


def test_jitter_only_lengthens_and_retry_after_is_capped() -> None:
    policy = RetryPolicy(initial_delay=10, max_delay=100, jitter=0.5)
    assert all(10 <= policy.delay(1) <= 15 for _ in range(50))
    assert policy.delay(1, retry_after=1_000) == 100
    assert RetryPolicy(jitter=0).delay(1, retry_after=90) == 90


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts must be >= 1"):
        RetryPolicy(max_attempts=0)


def test_policy_from_project_settings_uses_documented_defaults() -> None:
    assert RetryPolicy.from_settings(Settings()) == RetryPolicy()
