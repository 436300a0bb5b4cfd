"""The outbox: subscriptions, queued notifications and every delivery attempt.

Queueing and delivering are two pipelines of small stages, each taking and
returning notifications (Alertmanager's ``notify/notify.go``):

- :func:`enqueue`, inside the caller's transaction: :func:`match` the
  subscriptions, :func:`fan_out` one rendered notification per subscriber,
  :func:`dedup` against the outbox, insert. Because the rows are written in the
  transaction that changes the alert, an alert change and its notifications
  commit or roll back together.
- :func:`deliver_pending`, later and outside any alert transaction:
  :func:`due`, :func:`claim` (a lease, so two workers never send one row at the
  same time), :func:`send`, :func:`decide` (the retry rule of
  :mod:`forecasting.notify.retry` plus the attempt cap), :func:`record` (the
  attempt row and the new state). Network I/O never happens inside a database
  transaction.

A notification is ``pending`` until it is ``delivered``, ``failed`` (a
permanent answer, or the attempts ran out) or ``cancelled`` (its subscription
was deleted). Rows are never deleted: what failed stays visible, and
:func:`requeue` puts it back. Delivery is at least once: a worker that dies
between sending and recording leaves the lease to expire and the row is sent
again with the same event id, which receivers use to drop the duplicate.

Times are timezone-aware UTC throughout; SQLite hands them back naive and
:func:`_utc` restores the zone.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, overload

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from sqlalchemy import (
    JSON,
    Column,
    Connection,
    CursorResult,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    insert,
    or_,
    select,
    update,
)

from forecasting.errors import BordercastError
from forecasting.notify.email import EmailChannel, SMTPConfig
from forecasting.notify.message import (
    AlertEvent,
    Notification,
    SendResult,
    render_body,
    render_payload,
    render_subject,
)
from forecasting.notify.retry import Outcome, RetryPolicy, Verdict, check
from forecasting.notify.webhook import WebhookChannel, WebhookConfig
from forecasting.schema import metadata

logger = logging.getLogger(__name__)

#: Who wants which alerts, and how. Empty filter lists mean "all". ``secret``
#: signs webhooks and is never returned after creation; ``deleted_at`` marks a
#: deleted subscription, kept so that its outbox rows still make sense.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("secret", Text, nullable=True),
    Column("citizenships", JSON, nullable=False),
    Column("regions", JSON, nullable=False),
    Column("components", JSON, nullable=False),
    Column("min_severity", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),
)

#: One row per (alert transition, subscriber). ``body`` is rendered once, at
#: queueing, and sent byte for byte on every attempt. ``lease_until`` is set
#: while a worker is sending the row.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("subscription_id", Integer, ForeignKey("subscriptions.id"), nullable=False),
    Column("alert_id", String(128), nullable=False),
    Column("transition", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("target", Text, nullable=False),
    Column("subject", Text, nullable=True),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("subscription_id", "event_id", name="uq_outbox_subscription_event"),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

#: Every attempt, whatever came of it: the log an operator reads when a
#: subscriber says "we never got it".
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
)

Bind = Engine | Connection
Channel = Literal["email", "webhook"]
MinSeverity = Literal["watch", "warning", "critical"]

#: Severity order for ``min_severity``; a drop ranks with ``watch``, so the
#: default subscription (``watch``) gets drops and a stricter one does not.
SEVERITY_RANK = {"drop": 1, "watch": 1, "warning": 2, "critical": 3}

PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"

#: How long a claimed row is reserved for its worker; longer than any send.
DEFAULT_LEASE = 300.0


class UnknownSubscription(BordercastError, LookupError):
    """No (undeleted) subscription has this id."""

    def __init__(self, subscription_id: int) -> None:
        self.subscription_id = subscription_id
        super().__init__(f"no subscription with id {subscription_id}")


def create_tables(bind: Bind) -> None:
    """Create the notify tables where missing (until they join the Alembic migrations)."""
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            metadata.create_all(conn)
    else:
        metadata.create_all(bind)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@overload
def _utc(value: dt.datetime) -> dt.datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """A database time as aware UTC (SQLite returns naive values)."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _new_id(result: CursorResult[Any]) -> int:
    """The primary key an INSERT just created."""
    key = result.inserted_primary_key
    if key is None:  # only for executemany, which is never used here
        raise RuntimeError("INSERT returned no primary key")
    return int(key[0])


def _aware(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None:
        raise ValueError(f"now must be timezone-aware, got naive {now!r}")
    return now.astimezone(dt.UTC)


@contextmanager
def _tx(bind: Bind) -> Iterator[Connection]:
    """A transaction on ``bind``: a short one of our own, or the caller's if one is open.

    Given an Engine, each stage commits on its own, so a crash loses at most
    the attempt in flight. Given a Connection inside a transaction, the work
    joins it and the caller commits.
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    elif bind.in_transaction():
        yield bind
    else:
        with bind.begin():
            yield bind


# --------------------------------------------------------------------------- subscriptions


def _codes(values: Iterable[str], upper: bool) -> list[str]:
    cleaned = [v.strip() for v in values if v and v.strip()]
    return sorted({v.upper() if upper else v.lower() for v in cleaned})


class SubscriptionCreate(BaseModel):
    """What a caller sends to create a subscription (the API's request body).

    ``secret`` is required for webhooks (at least 16 characters: it is the HMAC
    key) and refused for e-mail. Filters are matched exactly after case
    normalisation: citizenship codes upper case (``CN``, ``ALL`` for the sum),
    regions and components lower case (``all`` for sums).
    """

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    target: str = Field(min_length=3, max_length=2000)
    secret: SecretStr | None = None
    citizenships: list[str] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    components: list[str] = Field(default_factory=list)
    min_severity: MinSeverity = "watch"

    @field_validator("citizenships")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        return _codes(value, upper=True)

    @field_validator("regions", "components")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return _codes(value, upper=False)

    @model_validator(mode="after")
    def _channel_rules(self) -> SubscriptionCreate:
        target = self.target.strip()
        if self.channel == "webhook":
            if not target.startswith(("http://", "https://")):
                raise ValueError(f"webhook target must be an http(s) URL, got {target!r}")
            secret = self.secret.get_secret_value() if self.secret else ""
            if len(secret) < 16:
                raise ValueError("webhook subscriptions need a secret of at least 16 characters")
        else:
            local, at, domain = target.rpartition("@")
            if not at or not local or "." not in domain or any(c.isspace() for c in target):
                raise ValueError(f"email target must be an e-mail address, got {target!r}")
            if self.secret is not None:
                raise ValueError("secret applies to webhook subscriptions only")
        self.target = target
        return self


class Subscription(BaseModel):
    """A stored subscription as it may be shown: everything but the secret."""

    id: int
    channel: Channel
    target: str
    citizenships: list[str]
    regions: list[str]
    components: list[str]
    min_severity: MinSeverity
    created_at: dt.datetime


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        channel=row.channel,
        target=row.target,
        citizenships=list(row.citizenships),
        regions=list(row.regions),
        components=list(row.components),
        min_severity=row.min_severity,
        created_at=_utc(row.created_at),
    )


_PUBLIC = [c for c in subscriptions.c if c.name != "secret"]


def create_subscription(
    conn: Connection, spec: SubscriptionCreate | dict[str, Any], *, now: dt.datetime | None = None
) -> Subscription:
    """Store a subscription; the returned record has no secret (the caller has it).

    Raises
    ------
    pydantic.ValidationError
        (a ``ValueError``) naming the field, for a bad channel, target, secret,
        filter or severity.
    """
    if not isinstance(spec, SubscriptionCreate):
        spec = SubscriptionCreate.model_validate(spec)
    created = _aware(now)
    result = conn.execute(
        insert(subscriptions).values(
            channel=spec.channel,
            target=spec.target,
            secret=spec.secret.get_secret_value() if spec.secret else None,
            citizenships=spec.citizenships,
            regions=spec.regions,
            components=spec.components,
            min_severity=spec.min_severity,
            created_at=created,
        )
    )
    return get_subscription(conn, _new_id(result))


def get_subscription(conn: Connection, subscription_id: int) -> Subscription:
    """One live subscription; raises :class:`UnknownSubscription` if absent or deleted."""
    row = conn.execute(
        select(*_PUBLIC).where(
            subscriptions.c.id == subscription_id, subscriptions.c.deleted_at.is_(None)
        )
    ).first()
    if row is None:
        raise UnknownSubscription(subscription_id)
    return _subscription(row)


def list_subscriptions(conn: Connection) -> list[Subscription]:
    """Every live subscription, oldest first, without secrets."""
    rows = conn.execute(
        select(*_PUBLIC).where(subscriptions.c.deleted_at.is_(None)).order_by(subscriptions.c.id)
    )
    return [_subscription(row) for row in rows]


def delete_subscription(
    conn: Connection, subscription_id: int, *, now: dt.datetime | None = None
) -> int:
    """Delete a subscription and cancel what is still pending for it.

    The row is kept (marked deleted) so its outbox history stays readable.

    Returns
    -------
    int
        How many pending notifications were cancelled.

    Raises
    ------
    UnknownSubscription
        If there is no live subscription with this id.
    """
    when = _aware(now)
    done = conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == subscription_id, subscriptions.c.deleted_at.is_(None))
        .values(deleted_at=when)
    )
    if done.rowcount != 1:
        raise UnknownSubscription(subscription_id)
    cancelled = conn.execute(
        update(outbox)
        .where(outbox.c.subscription_id == subscription_id, outbox.c.status == PENDING)
        .values(status=CANCELLED, last_error="subscription deleted", lease_until=None)
    )
    return cancelled.rowcount


# --------------------------------------------------------------------------- queueing


def matches(event: AlertEvent, subscription: Subscription) -> bool:
    """Whether ``subscription`` wants this alert transition.

    Each non-empty filter list must contain the alert's value (codes compared
    case-insensitively; a filter on ``southwest`` does not match the ``all``
    sum), and the alert's severity must reach ``min_severity`` (drops rank
    with ``watch``).
    """
    if subscription.citizenships and event.citizenship.upper() not in subscription.citizenships:
        return False
    if subscription.regions and event.region.lower() not in subscription.regions:
        return False
    if subscription.components and event.component.lower() not in subscription.components:
        return False
    return SEVERITY_RANK[event.severity] >= SEVERITY_RANK[subscription.min_severity]


def match(event: AlertEvent, candidates: Iterable[Subscription]) -> list[Subscription]:
    """Stage 1: the subscriptions that get this transition."""
    return [s for s in candidates if matches(event, s)]


@dataclass(frozen=True)
class Queued:
    """A rendered notification not yet in the outbox."""

    event_id: str
    subscription_id: int
    alert_id: str
    transition: str
    channel: str
    target: str
    subject: str | None
    body: str


def fan_out(
    event: AlertEvent, chosen: Iterable[Subscription], base_url: str, now: dt.datetime
) -> list[Queued]:
    """Stage 2: one rendered notification per subscription, in its channel's format."""
    subject = render_subject(event)
    text = render_body(event, base_url)
    payload = render_payload(event, base_url, now)
    return [
        Queued(
            event_id=event.event_id,
            subscription_id=s.id,
            alert_id=event.id,
            transition=event.transition,
            channel=s.channel,
            target=s.target,
            subject=subject if s.channel == "email" else None,
            body=text if s.channel == "email" else payload,
        )
        for s in chosen
    ]


def dedup(conn: Connection, queued: Sequence[Queued]) -> list[Queued]:
    """Stage 3: drop what the outbox already holds for the same subscriber and event.

    Detection may run twice over one month; the event id (alert, transition,
    severity) makes the second run a no-op instead of a second e-mail.
    """
    if not queued:
        return []
    event_ids = {q.event_id for q in queued}
    seen = {
        (row.subscription_id, row.event_id)
        for row in conn.execute(
            select(outbox.c.subscription_id, outbox.c.event_id).where(
                outbox.c.event_id.in_(event_ids)
            )
        )
    }
    fresh = [q for q in queued if (q.subscription_id, q.event_id) not in seen]
    for q in queued:
        if (q.subscription_id, q.event_id) in seen:
            logger.info(
                "skip %s for subscription %d: already queued", q.event_id, q.subscription_id
            )
    return fresh


def enqueue(
    conn: Connection,
    event: AlertEvent,
    subscriptions: Iterable[Subscription] | None = None,
    *,
    base_url: str | None = None,
    now: dt.datetime | None = None,
) -> list[int]:
    """Queue the notifications for one alert transition, in the caller's transaction.

    Call it with the connection that changes the alert: if that transaction
    rolls back, nothing is queued; if it commits, delivery is owed.

    Parameters
    ----------
    conn : Connection
        The caller's connection, normally inside ``engine.begin()``.
    event : AlertEvent
        The alert after the change, with the transition that caused it.
    subscriptions : iterable of Subscription, optional
        The candidates; every live subscription (read through ``conn``) when
        omitted. Only those :func:`matches` accepts are queued.
    base_url : str, optional
        The service's public URL for the link; ``BORDERCAST_BASE_URL`` when omitted.
    now : datetime, optional
        Queueing time (aware); the notifications are due at once.

    Returns
    -------
    list of int
        The outbox ids created (empty when nobody matches or all were queued before).
    """
    when = _aware(now)
    if base_url is None:
        from forecasting.settings import get_settings

        base_url = get_settings().base_url
    candidates = list_subscriptions(conn) if subscriptions is None else list(subscriptions)
    queued = dedup(conn, fan_out(event, match(event, candidates), base_url, when))
    ids: list[int] = []
    for q in queued:
        result = conn.execute(
            insert(outbox).values(
                event_id=q.event_id,
                subscription_id=q.subscription_id,
                alert_id=q.alert_id,
                transition=q.transition,
                channel=q.channel,
                target=q.target,
                subject=q.subject,
                body=q.body,
                status=PENDING,
                attempts=0,
                next_attempt_at=when,
                created_at=when,
            )
        )
        ids.append(_new_id(result))
    if ids:
        logger.info(
            "queued %d notification(s) for alert %s (%s)", len(ids), event.id, event.transition
        )
    return ids


# --------------------------------------------------------------------------- delivering


class Sender(Protocol):
    """A channel: sends one notification, raising or returning what the peer said."""

    name: str
    retry_429: bool

    def send(self, notification: Notification) -> SendResult: ...

    def close(self) -> None: ...


@dataclass
class Channels:
    """The senders by channel name; a channel left out fails its notifications."""

    senders: dict[str, Sender]

    @classmethod
    def from_settings(cls, settings: Any) -> Channels:
        """E-mail from ``BORDERCAST_SMTP_*``, webhooks from ``BORDERCAST_WEBHOOK_*``."""
        return cls(
            {
                "email": EmailChannel(SMTPConfig.from_settings(settings)),
                "webhook": WebhookChannel(WebhookConfig.from_settings(settings)),
            }
        )

    def close(self) -> None:
        """Release every channel's connections."""
        for sender in self.senders.values():
            sender.close()


@dataclass(frozen=True)
class Attempt:
    """The raw result of one send: when, how long, and what came back or was raised."""

    attempted_at: dt.datetime
    duration_ms: int
    status_code: int | None
    error: BaseException | None
    retry_after: float | None = None


@dataclass(frozen=True)
class Decision:
    """What becomes of a notification after an attempt."""

    status: str
    outcome: Outcome
    reason: str
    status_code: int | None = None
    next_attempt_at: dt.datetime | None = None


@dataclass
class DeliveryReport:
    """Counts of one :func:`deliver_pending` run, for the CLI and the flow's artifact."""

    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    skipped: int = 0
    ids: list[int] = field(default_factory=list)

    def add(self, notification_id: int, decision: Decision) -> None:
        self.ids.append(notification_id)
        if decision.status == DELIVERED:
            self.delivered += 1
        elif decision.status == FAILED:
            self.failed += 1
        else:
            self.retrying += 1


def due(conn: Connection, now: dt.datetime, force: bool = False, limit: int = 100) -> list[int]:
    """Stage 1: ids of pending, unleased rows whose time has come (all pending if ``force``)."""
    conditions = [
        outbox.c.status == PENDING,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now),
    ]
    if not force:
        conditions.append(outbox.c.next_attempt_at <= now)
    rows = conn.execute(
        select(outbox.c.id)
        .where(and_(*conditions))
        .order_by(outbox.c.next_attempt_at, outbox.c.id)
        .limit(limit)
    )
    return [row.id for row in rows]


def claim(
    conn: Connection, notification_id: int, now: dt.datetime, lease: float = DEFAULT_LEASE
) -> Notification | None:
    """Stage 2: reserve one row for this worker; None if another worker got it first.

    A conditional UPDATE is the lock (portable to SQLite and PostgreSQL, no
    ``SELECT ... FOR UPDATE``): only one worker's UPDATE matches the unleased
    row. The lease expires on its own if the worker dies.
    """
    taken = conn.execute(
        update(outbox)
        .where(
            outbox.c.id == notification_id,
            outbox.c.status == PENDING,
            or_(outbox.c.lease_until.is_(None), outbox.c.lease_until <= now),
        )
        .values(lease_until=now + dt.timedelta(seconds=lease))
    )
    if taken.rowcount != 1:
        return None
    row = conn.execute(
        select(outbox, subscriptions.c.secret)
        .join(subscriptions, subscriptions.c.id == outbox.c.subscription_id)
        .where(outbox.c.id == notification_id)
    ).one()
    return Notification(
        id=row.id,
        event_id=row.event_id,
        subscription_id=row.subscription_id,
        alert_id=row.alert_id,
        transition=row.transition,
        channel=row.channel,
        target=row.target,
        subject=row.subject,
        body=row.body,
        attempts=row.attempts,
        secret=row.secret,
    )


def send(notification: Notification, channels: Channels) -> Attempt:
    """Stage 3: one attempt over the notification's channel; never raises.

    Whatever the channel raises is kept for :func:`decide`; an error nobody
    expected is logged with its traceback.
    """
    attempted_at = utcnow()
    started = time.perf_counter()
    status_code: int | None = None
    error: BaseException | None = None
    retry_after: float | None = None
    sender = channels.senders.get(notification.channel)
    try:
        if sender is None:
            raise ValueError(f"no sender configured for channel {notification.channel!r}")
        result = sender.send(notification)
        status_code, retry_after = result.status_code, result.retry_after
    except Exception as exc:  # every failure is classified by retry.check
        error = exc
        if check(None, exc).unexpected:
            logger.exception("sending %r raised unexpectedly", notification)
    duration_ms = round((time.perf_counter() - started) * 1000)
    return Attempt(attempted_at, duration_ms, status_code, error, retry_after)


def decide(
    notification: Notification,
    attempt: Attempt,
    policy: RetryPolicy,
    now: dt.datetime,
    retry_429: bool = False,
) -> Decision:
    """Stage 4: the retry rule applied to this attempt, then the attempt cap.

    ``now`` anchors the backoff (the scheduling clock, which tests move).
    """
    verdict: Verdict = check(attempt.status_code, attempt.error, retry_429=retry_429)
    number = notification.attempts + 1
    code = verdict.status_code
    if verdict.outcome is Outcome.DELIVERED:
        return Decision(DELIVERED, verdict.outcome, verdict.reason, code)
    if verdict.outcome is Outcome.FAILED:
        return Decision(FAILED, verdict.outcome, verdict.reason, code)
    if number >= policy.max_attempts:
        reason = f"gave up after {number} attempts; last: {verdict.reason}"
        return Decision(FAILED, verdict.outcome, reason, code)
    wait = policy.delay(number, attempt.retry_after)
    return Decision(
        PENDING, verdict.outcome, verdict.reason, code, now + dt.timedelta(seconds=wait)
    )


def record(
    conn: Connection, notification: Notification, attempt: Attempt, decision: Decision
) -> None:
    """Stage 5: log the attempt and move the notification to its new state."""
    number = notification.attempts + 1
    conn.execute(
        insert(delivery_attempts).values(
            outbox_id=notification.id,
            attempt=number,
            attempted_at=attempt.attempted_at,
            duration_ms=attempt.duration_ms,
            outcome=decision.outcome.value,
            status_code=decision.status_code,
            error=None if decision.status == DELIVERED else decision.reason,
        )
    )
    values: dict[str, Any] = {
        "status": decision.status,
        "attempts": number,
        "lease_until": None,
        "last_error": None if decision.status == DELIVERED else decision.reason,
    }
    if decision.status == DELIVERED:
        values["delivered_at"] = attempt.attempted_at
    if decision.next_attempt_at is not None:
        values["next_attempt_at"] = decision.next_attempt_at
    conn.execute(update(outbox).where(outbox.c.id == notification.id).values(**values))
    log = logger.info if decision.status in (DELIVERED, PENDING) else logger.warning
    log(
        "%s %s to %s %s (attempt %d, %s)%s",
        notification.channel,
        notification.event_id,
        notification.target,
        decision.status,
        number,
        decision.reason,
        f", next at {decision.next_attempt_at.isoformat()}" if decision.next_attempt_at else "",
    )


def deliver_pending(
    bind: Bind,
    now: dt.datetime | None = None,
    force: bool = False,
    *,
    channels: Channels | None = None,
    policy: RetryPolicy | None = None,
    limit: int = 100,
    lease: float = DEFAULT_LEASE,
) -> DeliveryReport:
    """Send what is due, record every attempt, and reschedule or settle each notification.

    Safe to run from several processes at once (each row is claimed before it
    is sent) and to run after a crash (pending rows are simply due).

    Parameters
    ----------
    bind : Engine or Connection
        Prefer an Engine: each claim and each result then commits on its own,
        and no transaction stays open while a peer is slow. A Connection
        already in a transaction is used as is and the caller commits.
    now : datetime, optional
        The scheduling clock (aware); what is due and when retries fall are
        judged against it. Signatures always use the real clock.
    force : bool, default False
        Send every pending notification without waiting out its backoff
        (``bordercast deliver``). Attempts still count towards the cap; failed
        ones stay failed (see :func:`requeue`).
    channels : Channels, optional
        The senders; built from settings (and closed afterwards) when omitted.
    policy : RetryPolicy, optional
        Backoff and cap; from settings when omitted.
    limit : int, default 100
        Most notifications handled in one run; the rest wait for the next.
    lease : float, default 300
        Seconds a claimed row is reserved; must exceed the channels' timeouts.

    Returns
    -------
    DeliveryReport
        Counts delivered, retrying (still pending) and failed in this run.
    """
    when = _aware(now)
    owned = channels is None
    if channels is None or policy is None:
        from forecasting.settings import get_settings

        settings = get_settings()
        channels = channels or Channels.from_settings(settings)
        policy = policy or RetryPolicy.from_settings(settings)
    report = DeliveryReport()
    try:
        with _tx(bind) as conn:
            candidates = due(conn, when, force=force, limit=limit)
        for notification_id in candidates:
            with _tx(bind) as conn:
                notification = claim(conn, notification_id, when, lease)
            if notification is None:
                report.skipped += 1
                continue
            attempt = send(notification, channels)
            sender = channels.senders.get(notification.channel)
            retry_429 = bool(sender and sender.retry_429)
            decision = decide(notification, attempt, policy, when, retry_429=retry_429)
            with _tx(bind) as conn:
                record(conn, notification, attempt, decision)
            report.add(notification.id, decision)
    finally:
        if owned:
            channels.close()
    return report


# --------------------------------------------------------------------------- inspecting


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox row as an operator sees it (the body is left out)."""

    id: int
    event_id: str
    subscription_id: int
    alert_id: str
    transition: str
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


@dataclass(frozen=True)
class AttemptRecord:
    """One row of the attempts log."""

    outbox_id: int
    attempt: int
    attempted_at: dt.datetime
    duration_ms: int
    outcome: str
    status_code: int | None
    error: str | None


def list_outbox(conn: Connection, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
    """Outbox rows, newest first, optionally of one status (``failed`` for the ones to look at)."""
    query = select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status)
    return [
        OutboxEntry(
            id=row.id,
            event_id=row.event_id,
            subscription_id=row.subscription_id,
            alert_id=row.alert_id,
            transition=row.transition,
            channel=row.channel,
            target=row.target,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=_utc(row.next_attempt_at),
            last_error=row.last_error,
            created_at=_utc(row.created_at),
            delivered_at=_utc(row.delivered_at),
        )
        for row in conn.execute(query)
    ]


def list_attempts(conn: Connection, outbox_id: int | None = None) -> list[AttemptRecord]:
    """The attempts log, oldest first, for one notification or all."""
    query = select(delivery_attempts).order_by(delivery_attempts.c.id)
    if outbox_id is not None:
        query = query.where(delivery_attempts.c.outbox_id == outbox_id)
    return [
        AttemptRecord(
            outbox_id=row.outbox_id,
            attempt=row.attempt,
            attempted_at=_utc(row.attempted_at),
            duration_ms=row.duration_ms,
            outcome=row.outcome,
            status_code=row.status_code,
            error=row.error,
        )
        for row in conn.execute(query)
    ]


def count_by_status(conn: Connection) -> dict[str, int]:
    """How many notifications are in each state: a health check for the outbox."""
    rows = conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
    return {status: count for status, count in rows}


def requeue(conn: Connection, outbox_id: int, *, now: dt.datetime | None = None) -> bool:
    """Put a failed notification back in line with a fresh attempt budget.

    For after the receiver is fixed. Its earlier attempts stay in the log; the
    attempt counter restarts so the cap applies anew.

    Returns
    -------
    bool
        False when the row is not ``failed`` (or does not exist).
    """
    done = conn.execute(
        update(outbox)
        .where(outbox.c.id == outbox_id, outbox.c.status == FAILED)
        .values(status=PENDING, attempts=0, next_attempt_at=_aware(now), lease_until=None)
    )
    return done.rowcount == 1
