"""Delivery end to end, against a real SMTP server and a real HTTP receiver.

Each test names the promise it keeps: delivered once with the right content,
retried when the peer is down or slow, not hammered when the peer says no,
given up on after the documented limit, kept across restarts.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from email import message_from_bytes
from email.message import Message
from email.policy import default as default_policy
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from forecasting.notify import (
    count_by_status,
    create_subscription,
    create_tables,
    deliver_pending,
    enqueue,
    list_attempts,
    list_outbox,
    requeue,
)
from forecasting.notify.outbox import PENDING
from forecasting.settings import get_settings
from forecasting.store import make_engine

from .conftest import BASE_URL, NOW, POLICY, SECRET, Receiver, SMTPPeer, channels, make_event

MINUTE = dt.timedelta(minutes=1)


def subscribe_email(engine: Engine, target: str = "desk@example.org", **filters: object) -> int:
    with engine.begin() as conn:
        return create_subscription(conn, {"channel": "email", "target": target, **filters}).id


def subscribe_hook(engine: Engine, url: str) -> int:
    with engine.begin() as conn:
        return create_subscription(conn, {"channel": "webhook", "target": url, "secret": SECRET}).id


def queue(engine: Engine, **overrides: object) -> list[int]:
    with engine.begin() as conn:
        return enqueue(conn, make_event(**overrides), base_url=BASE_URL, now=NOW)


def status_of(engine: Engine, outbox_id: int) -> tuple[str, int]:
    with engine.connect() as conn:
        (entry,) = [e for e in list_outbox(conn) if e.id == outbox_id]
    return entry.status, entry.attempts


def mail(peer: SMTPPeer, index: int = 0) -> Message:
    return message_from_bytes(peer.inbox.envelopes[index].content, policy=default_policy)


# --------------------------------------------------------------------------- e-mail


def test_email_reaches_the_smtp_server_with_subject_body_and_recipient(
    engine: Engine, smtp_server: SMTPPeer
) -> None:
    subscribe_email(engine, "desk@example.org")
    subscribe_email(engine, "venezuela-desk@example.org", citizenships=["VE"])
    (oid,) = queue(engine)

    report = deliver_pending(engine, now=NOW, channels=channels(smtp_server.config), policy=POLICY)

    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    assert [e.rcpt_tos for e in smtp_server.inbox.envelopes] == [["desk@example.org"]]
    message = mail(smtp_server)
    assert message["Subject"] == (
        "[Bordercast] Surge (warning): China at the southwest border (USBP), July 2023: "
        "4,012 vs 1,180 expected (+240%)"
    )
    assert message["Bordercast-Event-Id"] == make_event().event_id
    body = message.get_content()
    assert "Encounters:   4,012" in body and "+240%" in body
    assert f"{BASE_URL}/?citizenship=CN&region=southwest&component=usbp" in body
    assert status_of(engine, oid) == ("delivered", 1)
    with engine.connect() as conn:
        (attempt,) = list_attempts(conn, oid)
    assert (attempt.outcome, attempt.error) == ("delivered", None)


def test_email_over_starttls_with_login(engine: Engine, smtp_tls_server: SMTPPeer) -> None:
    subscribe_email(engine)
    (oid,) = queue(engine)
    deliver_pending(engine, now=NOW, channels=channels(smtp_tls_server.config), policy=POLICY)
    assert status_of(engine, oid) == ("delivered", 1)
    assert mail(smtp_tls_server)["To"] == "desk@example.org"


def test_email_refused_with_5xx_fails_at_once(engine: Engine, smtp_server: SMTPPeer) -> None:
    smtp_server.inbox.reject_with = "550 5.1.1 no such mailbox"
    subscribe_email(engine)
    (oid,) = queue(engine)
    deliver_pending(engine, now=NOW, channels=channels(smtp_server.config), policy=POLICY)
    assert status_of(engine, oid) == ("failed", 1)
    with engine.connect() as conn:
        (attempt,) = list_attempts(conn, oid)
    assert attempt.status_code == 550 and "550" in (attempt.error or "")


def test_email_temporarily_refused_is_retried(engine: Engine, smtp_server: SMTPPeer) -> None:
    smtp_server.inbox.reject_with = "451 4.3.0 try again later"
    subscribe_email(engine)
    (oid,) = queue(engine)
    deliver_pending(engine, now=NOW, channels=channels(smtp_server.config), policy=POLICY)
    assert status_of(engine, oid) == ("pending", 1)
    smtp_server.inbox.reject_with = None
    deliver_pending(engine, now=NOW + MINUTE, channels=channels(smtp_server.config), policy=POLICY)
    assert status_of(engine, oid) == ("delivered", 2)


# --------------------------------------------------------------------------- webhooks


def test_webhook_is_signed_over_the_exact_bytes_and_verified(
    engine: Engine, receiver: Receiver
) -> None:
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)

    deliver_pending(engine, now=NOW, channels=channels(), policy=POLICY)

    (request,) = receiver.requests
    assert request.verified, request.error
    assert request.headers["Bordercast-Event-Id"] == make_event().event_id
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    assert payload["type"] == "alert.opened" and payload["data"]["citizenship"] == "CN"
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT body FROM outbox WHERE id = :id"), {"id": oid}).scalar()
        (attempt,) = list_attempts(conn, oid)
    assert request.body == stored.encode("utf-8")
    assert (attempt.outcome, attempt.status_code) == ("delivered", 200)


def test_a_receiver_with_another_secret_rejects_and_is_not_retried(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.secret = "whsec_not_the_subscription_secret"
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)
    deliver_pending(engine, now=NOW, channels=channels(), policy=POLICY)
    assert not receiver.requests[0].verified
    assert "no signature in the header matches" in (receiver.requests[0].error or "")
    assert status_of(engine, oid) == ("failed", 1)


def test_receiver_down_stays_pending_then_force_delivers(
    engine: Engine, down_receiver: Receiver
) -> None:
    subscribe_hook(engine, down_receiver.url)
    (oid,) = queue(engine)

    first = deliver_pending(engine, now=NOW, channels=channels(), policy=POLICY)
    assert first.retrying == 1 and status_of(engine, oid) == ("pending", 1)
    with engine.connect() as conn:
        (attempt,) = list_attempts(conn, oid)
        (entry,) = list_outbox(conn)
    assert attempt.outcome == "retry" and "connection error" in (attempt.error or "")
    assert entry.next_attempt_at == NOW + MINUTE

    # Inside the backoff nothing is sent, even once the receiver is back ...
    down_receiver.start()
    assert (
        deliver_pending(engine, now=NOW + MINUTE / 2, channels=channels(), policy=POLICY).ids == []
    )
    assert down_receiver.requests == []
    # ... unless forced (``bordercast deliver``).
    forced = deliver_pending(
        engine, now=NOW + MINUTE / 2, force=True, channels=channels(), policy=POLICY
    )
    assert forced.delivered == 1 and status_of(engine, oid) == ("delivered", 2)
    assert down_receiver.requests[0].verified


def test_slow_receiver_times_out_and_is_retried_not_lost(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.mode, receiver.delay = "slow", 0.6
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)

    deliver_pending(engine, now=NOW, channels=channels(timeout=0.2), policy=POLICY)
    assert status_of(engine, oid) == ("pending", 1)
    with engine.connect() as conn:
        (attempt,) = list_attempts(conn, oid)
    assert attempt.outcome == "retry" and "timeout" in (attempt.error or "")

    receiver.mode = "ok"
    deliver_pending(engine, now=NOW + MINUTE, channels=channels(timeout=0.2), policy=POLICY)
    assert status_of(engine, oid) == ("delivered", 2)
    first, second = receiver.requests
    assert first.headers["Bordercast-Event-Id"] == second.headers["Bordercast-Event-Id"]
    assert first.body == second.body


def test_4xx_fails_permanently_after_one_attempt(engine: Engine, receiver: Receiver) -> None:
    receiver.mode = 404
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)

    deliver_pending(engine, now=NOW, channels=channels(), policy=POLICY)
    again = deliver_pending(engine, now=NOW + dt.timedelta(days=1), force=True, channels=channels())

    assert again.ids == [] and len(receiver.requests) == 1
    assert status_of(engine, oid) == ("failed", 1)
    with engine.connect() as conn:
        (entry,) = list_outbox(conn, status="failed")
        (attempt,) = list_attempts(conn, oid)
    assert entry.last_error == "HTTP 404 (permanent)"
    assert (attempt.outcome, attempt.status_code) == ("failed", 404)


def test_5xx_is_retried_with_backoff_then_given_up_visibly(
    engine: Engine, receiver: Receiver
) -> None:
    receiver.mode = 503
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)

    # POLICY: 3 attempts, waits of 1 then 2 minutes.
    for minutes in (0, 1, 3):
        deliver_pending(engine, now=NOW + minutes * MINUTE, channels=channels(), policy=POLICY)
    assert deliver_pending(engine, now=NOW + MINUTE, channels=channels(), policy=POLICY).ids == []

    assert status_of(engine, oid) == ("failed", 3)
    with engine.connect() as conn:
        attempts = list_attempts(conn, oid)
        (entry,) = list_outbox(conn, status="failed")
        counts = count_by_status(conn)
    assert [a.outcome for a in attempts] == ["retry", "retry", "retry"]
    assert [a.status_code for a in attempts] == [503, 503, 503]
    assert entry.last_error == "gave up after 3 attempts; last: HTTP 503"
    assert counts == {"failed": 1}

    receiver.mode = "ok"
    with engine.begin() as conn:
        assert requeue(conn, oid, now=NOW + 10 * MINUTE)
    deliver_pending(engine, now=NOW + 10 * MINUTE, channels=channels(), policy=POLICY)
    assert status_of(engine, oid) == ("delivered", 1)


def test_429_is_retried_only_where_the_channel_opts_in(engine: Engine, receiver: Receiver) -> None:
    receiver.mode, receiver.headers = 429, {"Retry-After": "600"}
    subscribe_hook(engine, receiver.url)
    first, second = queue(engine), queue(engine, transition="resolved", status="resolved")

    deliver_pending(engine, now=NOW, channels=channels(retry_429=True), policy=POLICY, limit=1)
    deliver_pending(engine, now=NOW, channels=channels(retry_429=False), policy=POLICY, limit=1)

    assert status_of(engine, first[0]) == ("pending", 1)
    assert status_of(engine, second[0]) == ("failed", 1)
    with engine.connect() as conn:
        entry = next(e for e in list_outbox(conn) if e.id == first[0])
    assert entry.next_attempt_at == NOW + dt.timedelta(seconds=600)


# --------------------------------------------------------------------------- the outbox


def test_enqueue_commits_and_rolls_back_with_the_alert_change(engine: Engine) -> None:
    subscribe_email(engine)

    class AlertWriteFailed(Exception):
        pass

    try:
        with engine.begin() as conn:
            enqueue(conn, make_event(), base_url=BASE_URL, now=NOW)
            raise AlertWriteFailed
    except AlertWriteFailed:
        pass
    with engine.connect() as conn:
        assert list_outbox(conn) == []

    assert len(queue(engine)) == 1
    assert queue(engine) == []  # the same transition again: deduplicated
    assert len(queue(engine, transition="escalated", severity="critical")) == 1


def test_outbox_survives_a_restart(tmp_path: Path, receiver: Receiver) -> None:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    before = make_engine(url)
    create_tables(before)
    subscribe_hook(before, receiver.url)
    (oid,) = queue(before)
    before.dispose()  # the process ends with the notification still pending

    after = make_engine(url)
    try:
        assert status_of(after, oid) == (PENDING, 0)
        deliver_pending(after, now=NOW, channels=channels(), policy=POLICY)
        assert status_of(after, oid) == ("delivered", 1)
        assert receiver.requests[0].verified
    finally:
        after.dispose()


def test_two_workers_never_send_one_notification_twice(engine: Engine, receiver: Receiver) -> None:
    receiver.mode, receiver.delay = "slow", 0.05
    subscribe_hook(engine, receiver.url)
    for n in range(6):
        queue(engine, id=f"alert-{n}")
    reports = []

    def work() -> None:
        reports.append(deliver_pending(engine, now=NOW, channels=channels(), policy=POLICY))

    workers = [threading.Thread(target=work) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()

    ids = [i for r in reports for i in r.ids]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 6
    assert len(receiver.requests) == 6
    with engine.connect() as conn:
        assert count_by_status(conn) == {"delivered": 6}


def test_settings_drive_the_default_channels(
    engine: Engine, smtp_server: SMTPPeer, settings_env: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without explicit channels, ``BORDERCAST_SMTP_*`` decides where mail goes."""
    monkeypatch.setenv("BORDERCAST_SMTP_PORT", str(smtp_server.config.port))
    get_settings.cache_clear()
    subscribe_email(engine)
    (oid,) = queue(engine)
    report = deliver_pending(engine, now=NOW)
    assert report.delivered == 1 and status_of(engine, oid) == ("delivered", 1)
    assert smtp_server.inbox.envelopes[0].mail_from == get_settings().smtp_sender


def test_a_connection_works_as_well_as_an_engine(engine: Engine, receiver: Receiver) -> None:
    subscribe_hook(engine, receiver.url)
    (oid,) = queue(engine)
    with engine.connect() as conn:
        deliver_pending(conn, now=NOW, channels=channels(), policy=POLICY)
    assert status_of(engine, oid) == ("delivered", 1)


# --------------------------------------------------------------------------- indicator watches


def test_what_opened_a_watch_reaches_mail_and_signed_webhook(
    engine: Engine, smtp_server: SMTPPeer, receiver: Receiver
) -> None:
    reason = "Darién crossings by nationals of China: 56 in 2022-03, x2.3 their 6-month mean (24)"
    subscribe_email(engine)
    subscribe_hook(engine, receiver.url)
    queue(engine, severity="watch", reason=reason)

    report = deliver_pending(engine, now=NOW, channels=channels(smtp_server.config), policy=POLICY)

    assert report.delivered == 2
    assert f"Opened by:    {reason}" in mail(smtp_server).get_content().splitlines()
    (request,) = receiver.requests
    assert request.verified, request.error
    assert json.loads(request.body)["data"]["reason"] == reason
