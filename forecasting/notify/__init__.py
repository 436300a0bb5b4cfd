"""Alert delivery: an outbox in the database, e-mail over SMTP, signed webhooks.

The alert code calls :func:`enqueue` inside the transaction that opens,
escalates or resolves an alert; a worker (the flow, the service, or
``bordercast deliver``) calls :func:`deliver_pending`. Receivers check
webhook signatures with :func:`verify`.
"""

from __future__ import annotations

from forecasting.notify.message import AlertEvent, Notification
from forecasting.notify.outbox import (
    Channels,
    DeliveryReport,
    Subscription,
    SubscriptionCreate,
    UnknownSubscription,
    count_by_status,
    create_subscription,
    create_tables,
    delete_subscription,
    deliver_pending,
    enqueue,
    get_subscription,
    list_attempts,
    list_outbox,
    list_subscriptions,
    match,
    matches,
    metadata,
    requeue,
)
from forecasting.notify.retry import Outcome, RetryPolicy, Verdict, check
from forecasting.notify.signing import SignatureError, sign, verify

__all__ = [
    "AlertEvent",
    "Channels",
    "DeliveryReport",
    "Notification",
    "Outcome",
    "RetryPolicy",
    "SignatureError",
    "Subscription",
    "SubscriptionCreate",
    "UnknownSubscription",
    "Verdict",
    "check",
    "count_by_status",
    "create_subscription",
    "create_tables",
    "delete_subscription",
    "deliver_pending",
    "enqueue",
    "get_subscription",
    "list_attempts",
    "list_outbox",
    "list_subscriptions",
    "match",
    "matches",
    "metadata",
    "requeue",
    "sign",
    "verify",
]
