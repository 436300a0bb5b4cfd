"""Alerts from the real history: stored once per episode, notified once per transition."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, func, insert, inspect, select, update

from forecasting.alerts import detect_as_of, list_alerts, run_detection
from forecasting.ingest import ingest
from forecasting.notify import create_subscription, list_outbox
from forecasting.notify.outbox import outbox
from forecasting.schema import alerts, metadata
from forecasting.store import MIGRATIONS, Store, make_engine
from tests.conftest import TRANSIT, WORKBOOK
from tests.forecasting.test_transit_watch import CHINA_REASON, LOOSE

BASE_URL = "https://bordercast.example.org"
#: China's southwest USBP watch that its Darién count opens in 2022-03 under LOOSE.
CN_WATCH = "CN:southwest:usbp/surge/2022-03"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('alerts') / 'history.db'}"
    ingest(Store(url), str(WORKBOOK))
    return url


def test_china_2022_surge_is_flagged_within_2022(history: str) -> None:
    found = detect_as_of(Store(history), "2022-12", citizenship="CN", region="southwest")
    surge = next(a for a in found["alerts"] if a["kind"] == "surge")
    assert found["as_of"] == "2022-12"
    assert surge["opened"] <= "2022-12"
    assert surge["observed"] == 930
    assert surge["status"] in {"open", "escalated"}
    assert surge["severity"] in {"warning", "critical"}


def test_replay_uses_only_the_data_up_to_as_of(history: str) -> None:
    before = detect_as_of(Store(history), "2021-12", citizenship="CN", region="southwest")
    assert not [a for a in before["alerts"] if a["kind"] == "surge"]


def test_replay_writes_nothing(history: str) -> None:
    store = Store(history)
    detect_as_of(store, "2022-12")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 0


@pytest.mark.slow
def test_monthly_run_notifies_each_transition_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    store = Store(url)
    ingest(store, str(WORKBOOK))
    with store.engine.begin() as conn:
        create_subscription(
            conn, {"channel": "email", "target": "desk@example.org", "citizenships": ["CN"]}
        )
    months = ["2022-03", "2022-04", "2022-05", "2022-06", "2022-07"]
    runs = [run_detection(store, m, notify=True) for m in months]
    opened = [a["id"] for r in runs for a in r["opened"] if a["citizenship"]["code"] == "CN"]
    assert "CN:southwest:usbp/surge/2022-04" in opened
    run_detection(store, "2022-07", notify=True)  # the same month twice queues nothing new
    with store.engine.connect() as conn:
        queued = [e for e in list_outbox(conn) if e.alert_id.startswith("CN:southwest:usbp")]
    transitions = sorted(e.transition for e in queued)
    assert transitions.count("opened") == 1
    assert len(queued) == len({e.event_id for e in queued})
    stored = list_alerts(store, citizenship="CN", region="southwest", component="usbp")
    assert stored[0]["id"] == "CN:southwest:usbp/surge/2022-04"


def test_cli_detect_json_has_the_documented_shape(history: str) -> None:
    env = {**os.environ, "BORDERCAST_DATABASE_URL": history}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bordercast",
            "detect",
            "--as-of",
            "2022-12",
            "--citizenship",
            "China",
            "--region",
            "southwest",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["as_of"] == "2022-12"
    assert set(data["alerts"][0]) == {
        "id",
        "citizenship",
        "region",
        "component",
        "month",
        "opened",
        "kind",
        "severity",
        "observed",
        "expected",
        "lower",
        "upper",
        "status",
        "reason",
    }
    assert data["alerts"][0]["reason"] is None  # the U.S. counts opened it


# --------------------------------------------------------------------------- reasons


def queued_bodies(store: Store, alert_id: str) -> dict[tuple[str, str], str]:
    """What the outbox holds for one alert, by (channel, transition): e-mail text or JSON."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.channel, outbox.c.transition, outbox.c.body).where(
                outbox.c.alert_id == alert_id
            )
        )
        return {(r.channel, r.transition): r.body for r in rows}


@pytest.mark.slow
def test_an_indicator_watch_is_stored_and_notified_with_its_reason(db_url: str) -> None:
    store = Store(db_url)
    for path in (WORKBOOK, *TRANSIT):  # workbook_and_transit's recipe, on either backend
        ingest(store, str(path))
    with store.engine.begin() as conn:
        create_subscription(conn, {"channel": "email", "target": "desk@example.org"})
        create_subscription(
            conn,
            {
                "channel": "webhook",
                "target": "https://hooks.example.org/bordercast",
                "secret": "whsec_alert_reason_tests",
            },
        )

    march = run_detection(store, "2022-03", settings=LOOSE, base_url=BASE_URL)

    (watch,) = [a for a in march["opened"] if a["id"] == CN_WATCH]
    assert (watch["severity"], watch["reason"]) == ("watch", CHINA_REASON)
    stored = {a["id"]: a for a in list_alerts(store)}
    assert stored[CN_WATCH]["reason"] == CHINA_REASON
    us_opened = [a["id"] for a in march["opened"] if a["reason"] is None]
    assert us_opened and all(stored[i]["reason"] is None for i in us_opened)

    sent = queued_bodies(store, CN_WATCH)
    assert f"\nOpened by:    {CHINA_REASON}\n" in sent["email", "opened"]
    assert json.loads(sent["webhook", "opened"])["data"]["reason"] == CHINA_REASON
    plain = queued_bodies(store, us_opened[0])
    assert "Opened by:" not in plain["email", "opened"]
    assert json.loads(plain["webhook", "opened"])["data"]["reason"] is None

    # April's U.S. counts escalate the watch; the alert keeps what opened it.
    april = run_detection(store, "2022-04", settings=LOOSE, base_url=BASE_URL)
    assert CN_WATCH in [a["id"] for a in april["escalated"]]
    assert {a["id"]: a for a in list_alerts(store)}[CN_WATCH]["reason"] == CHINA_REASON
    assert f"Opened by:    {CHINA_REASON}" in queued_bodies(store, CN_WATCH)["email", "escalated"]


def migrate(
    engine: Engine, revision: str, step: Callable[[Config, str], None] = command.upgrade
) -> None:
    """Move the schema to ``revision`` as ``Store.migrate`` does (``step``: up or down)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        step(config, revision)


def test_migration_0005_keeps_the_alerts_stored_before_it(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine, "0004")
    with engine.begin() as conn:  # an alert as the code before 0005 stored it
        conn.execute(
            insert(alerts).values(
                id="CN:southwest:usbp/surge/2022-04",
                unique_id="CN:southwest:usbp",
                citizenship="CN",
                region="southwest",
                component="usbp",
                kind="surge",
                opened=dt.date(2022, 4, 1),
                month=dt.date(2022, 12, 1),
                severity="critical",
                status="escalated",
                observed=930.0,
                expected=310.5,
                lower=None,
                upper=None,
                resolved=None,
                updated_at=dt.datetime(2023, 1, 20, 6, 0, tzinfo=dt.UTC),
            )
        )

    store = Store(db_url)  # opening the store upgrades it to the newest schema
    (kept,) = list_alerts(store)
    assert (kept["id"], kept["status"], kept["observed"]) == (
        "CN:southwest:usbp/surge/2022-04",
        "escalated",
        930.0,
    )
    assert kept["reason"] is None
    with store.engine.begin() as conn:
        conn.execute(update(alerts).values(reason=CHINA_REASON))
    store.engine.dispose()

    migrate(engine, "0004", command.downgrade)
    with engine.connect() as conn:
        assert "reason" not in {c["name"] for c in inspect(conn).get_columns("alerts")}
        rows = conn.execute(select(alerts.c.id, alerts.c.observed)).all()
    assert [tuple(r) for r in rows] == [("CN:southwest:usbp/surge/2022-04", 930.0)]
    migrate(engine, "head")
    assert list_alerts(Store(db_url)) == [kept]
    engine.dispose()


def test_the_migrations_build_the_alerts_table_the_schema_describes(db_url: str) -> None:
    store = Store(db_url)
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "'alerts'" in repr(d)] == []
