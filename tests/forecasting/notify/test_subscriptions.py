"""Subscriptions: validation, CRUD without secrets, and which ones get an alert."""

from __future__ import annotations

import datetime as dt

import pydantic
import pytest
from sqlalchemy import Engine, select

from forecasting.notify import (
    Subscription,
    UnknownSubscription,
    create_subscription,
    delete_subscription,
    enqueue,
    get_subscription,
    list_outbox,
    list_subscriptions,
    matches,
)
from forecasting.notify.outbox import subscriptions

from .conftest import BASE_URL, NOW, SECRET, make_event

HOOK = {"channel": "webhook", "target": "https://example.org/hook", "secret": SECRET}


def subscription(**overrides: object) -> Subscription:
    values: dict[str, object] = {
        "id": 1,
        "channel": "email",
        "target": "desk@example.org",
        "citizenships": [],
        "regions": [],
        "components": [],
        "min_severity": "watch",
        "created_at": NOW,
    }
    values.update(overrides)
    return Subscription.model_validate(values)


@pytest.mark.parametrize(
    ("overrides", "wanted"),
    [
        ({}, True),
        ({"citizenships": ["CN", "IN"]}, True),
        ({"citizenships": ["VE"]}, False),
        ({"regions": ["southwest"]}, True),
        ({"regions": ["northern"]}, False),
        ({"components": ["ofo"]}, False),
        ({"min_severity": "warning"}, True),
        ({"min_severity": "critical"}, False),
    ],
)
def test_matching_filters(overrides: dict[str, object], wanted: bool) -> None:
    assert matches(make_event(), subscription(**overrides)) is wanted


def test_drops_go_to_watch_subscribers_only() -> None:
    drop = make_event(kind="drop", severity="drop", observed=100)
    assert matches(drop, subscription())
    assert not matches(drop, subscription(min_severity="warning"))


def test_region_filter_does_not_match_the_sum_over_regions() -> None:
    assert not matches(make_event(region="all"), subscription(regions=["southwest"]))


def test_create_normalises_and_never_returns_the_secret(engine: Engine) -> None:
    with engine.begin() as conn:
        created = create_subscription(conn, {**HOOK, "citizenships": ["cn", " in "]}, now=NOW)
        listed = list_subscriptions(conn)
        stored = conn.execute(select(subscriptions.c.secret)).scalar_one()
    assert created.citizenships == ["CN", "IN"]
    assert created.created_at == NOW
    assert "secret" not in created.model_dump()
    assert SECRET not in created.model_dump_json()
    assert listed == [created]
    assert stored == SECRET


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"channel": "webhook", "target": "https://example.org/hook"}, "secret of at least 16"),
        ({**HOOK, "secret": "short"}, "secret of at least 16"),
        ({**HOOK, "target": "ftp://example.org"}, "http\\(s\\) URL"),
        ({"channel": "email", "target": "not-an-address"}, "e-mail address"),
        ({"channel": "email", "target": "a@b.org", "secret": SECRET}, "webhook subscriptions only"),
        ({"channel": "sms", "target": "+1555"}, "channel"),
        ({**HOOK, "min_severity": "loud"}, "min_severity"),
    ],
)
def test_create_refuses_bad_specs(engine: Engine, spec: dict[str, object], message: str) -> None:
    with engine.begin() as conn, pytest.raises(pydantic.ValidationError, match=message):
        create_subscription(conn, spec)


def test_delete_hides_the_subscription_and_cancels_its_pending(engine: Engine) -> None:
    with engine.begin() as conn:
        keep = create_subscription(conn, {"channel": "email", "target": "keep@example.org"})
        drop = create_subscription(conn, HOOK)
        enqueue(conn, make_event(), base_url=BASE_URL, now=NOW)
        cancelled = delete_subscription(conn, drop.id, now=NOW + dt.timedelta(hours=1))
    assert cancelled == 1
    with engine.connect() as conn:
        assert list_subscriptions(conn) == [keep]
        with pytest.raises(UnknownSubscription, match=f"no subscription with id {drop.id}"):
            get_subscription(conn, drop.id)
        statuses = {e.subscription_id: e.status for e in list_outbox(conn)}
    assert statuses == {keep.id: "pending", drop.id: "cancelled"}
    with engine.begin() as conn, pytest.raises(UnknownSubscription):
        delete_subscription(conn, drop.id)
