"""What notifications say: subject, body, JSON payload and the event id."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecasting.notify.message import (
    AlertEvent,
    alert_url,
    render_body,
    render_payload,
    render_subject,
)

from .conftest import BASE_URL, NOW, make_event

#: What opens a watch when China's Darién count jumps (forecasting.transit_watch.reason).
REASON = "Darién crossings by nationals of China: 56 in 2022-03, x2.3 their 6-month mean (24)"


def test_subject_names_citizenship_place_month_and_how_far_above() -> None:
    subject = render_subject(make_event())
    assert subject == (
        "[Bordercast] Surge (warning): China at the southwest border (USBP), July 2023: "
        "4,012 vs 1,180 expected (+240%)"
    )


@pytest.mark.parametrize(
    ("overrides", "start"),
    [
        ({"transition": "escalated", "severity": "critical", "status": "escalated"},
         "[Bordercast] Surge escalated to critical: China"),
        ({"transition": "resolved", "status": "resolved"}, "[Bordercast] Surge resolved: China"),
        ({"kind": "drop", "severity": "drop", "observed": 200}, "[Bordercast] Drop: China"),
    ],
)  # fmt: skip
def test_subject_names_the_transition(overrides: dict[str, object], start: str) -> None:
    assert render_subject(make_event(**overrides)).startswith(start)


def test_body_has_the_numbers_and_the_link() -> None:
    body = render_body(make_event(), BASE_URL)
    assert "Citizenship:  China (CN)" in body
    assert "Where:        the southwest border, Border Patrol (USBP)" in body
    assert "Encounters:   4,012" in body
    assert "Expected:     1,180 (interval 702 to 1,650)" in body
    assert "2,832 above expected (+240%, 3.4x the expected level)" in body
    assert "2,362 above the upper bound" in body
    link = f"{BASE_URL}/?citizenship=CN&region=southwest&component=usbp#alert-"
    assert link in body


def test_drop_body_says_below() -> None:
    body = render_body(make_event(kind="drop", severity="drop", observed=300), BASE_URL)
    assert "880 below expected (-75%" in body
    assert "402 below the lower bound" in body


def test_payload_is_compact_json_with_event_id_and_url() -> None:
    event = make_event()
    text = render_payload(event, BASE_URL, NOW)
    payload = json.loads(text)
    assert payload["id"] == event.event_id
    assert payload["type"] == "alert.opened"
    assert payload["created_at"] == "2024-01-15T12:00:00Z"
    assert payload["data"]["alert_id"] == event.id
    assert payload["data"]["observed"] == 4012.0
    assert payload["data"]["percent_vs_expected"] == pytest.approx(239.88, abs=0.01)
    assert payload["data"]["url"] == alert_url(event, BASE_URL)
    assert ", " not in text and ": " not in text


def test_event_id_is_stable_per_transition_and_severity() -> None:
    assert make_event().event_id == make_event().event_id
    assert make_event().event_id != make_event(transition="resolved").event_id
    escalated = make_event(transition="escalated", severity="critical")
    assert escalated.event_id != make_event(transition="escalated").event_id


def test_numpy_numbers_become_floats_and_bad_values_are_refused() -> None:
    event = make_event(observed=np.int64(7), expected=np.float64(2.5))
    assert type(event.observed) is float and type(event.expected) is float
    with pytest.raises(ValueError, match="transition must be one of opened, escalated, resolved"):
        make_event(transition="reopened")
    with pytest.raises(ValueError, match="month must be YYYY-MM"):
        make_event(month="July 2023")


def test_from_alert_reads_a_dict() -> None:
    alert = {f: getattr(make_event(), f) for f in AlertEvent.__dataclass_fields__}
    alert.pop("transition")
    assert AlertEvent.from_alert(alert, "opened") == make_event()


def test_body_says_what_opened_a_watch_in_one_line_only_when_an_indicator_did() -> None:
    watch = make_event(severity="watch", reason=REASON)
    body = render_body(watch, BASE_URL)
    assert body.count("Opened by:") == 1
    assert f"above the upper bound\nOpened by:    {REASON}\nAlert:        " in body
    assert "Opened by:" not in render_body(make_event(), BASE_URL)
    assert render_body(make_event(reason=" \n"), BASE_URL) == render_body(make_event(), BASE_URL)


def test_payload_carries_the_reason_or_null_and_nothing_else_changes() -> None:
    plain = json.loads(render_payload(make_event(), BASE_URL, NOW))
    watch = json.loads(render_payload(make_event(reason=REASON), BASE_URL, NOW))
    assert plain["data"]["reason"] is None
    assert watch["data"]["reason"] == REASON
    assert {**watch, "data": {**watch["data"], "reason": None}} == plain
    assert make_event(reason=REASON).event_id == make_event().event_id


def test_subject_is_the_same_with_a_reason() -> None:
    assert render_subject(make_event(reason=REASON)) == render_subject(make_event())


def test_from_alert_reads_the_reason_when_there_is_one() -> None:
    alert = {f: getattr(make_event(), f) for f in AlertEvent.__dataclass_fields__}
    del alert["transition"], alert["reason"]
    assert AlertEvent.from_alert(alert, "opened").reason is None
    assert AlertEvent.from_alert({**alert, "reason": REASON}, "opened").reason == REASON
    with pytest.raises(ValueError, match="reason must be text or None"):
        make_event(reason=42)
