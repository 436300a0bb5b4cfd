"""The policy calendar: the bundled file loads, bad entries are named, as-of filtering holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.errors import ConfigError
from forecasting.policy import known_as_of, load_events, regressors

CALENDAR = Path(__file__).resolve().parents[2] / "data" / "policy_events.yaml"

REQUIRED = {
    "covid-title42",
    "title42-end",
    "mpp-reinstated",
    "mpp-ended",
    "parole-venezuela",
    "parole-chn",
    "asylum-restrictions-2024",
    "administration-2021",
    "administration-2025",
    "china-reopening",
    "ecuador-visa-china",
    "mexico-visa-ecuador",
    "mexico-visa-brazil",
    "mexico-visa-venezuela",
}

GOOD = """
  - id: {id}
    date: 2023-01-08
    announced: 2022-12-26
    kind: {kind}
    citizenships: [CN]
    regions: all
    source: test
"""


def write(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "events.yaml"
    path.write_text("events:" + "".join(entries))
    return path


def test_bundled_calendar_has_the_required_events() -> None:
    events = {e.id: e for e in load_events(CALENDAR)}
    assert set(events) >= REQUIRED
    assert events["title42-end"].date == pd.Timestamp("2023-05-11")
    assert events["title42-end"].announced < events["title42-end"].date
    assert events["ecuador-visa-china"].citizenships == ("CN",)


def test_bad_kind_names_the_entry_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.format(id="ok", kind="step"), GOOD.format(id="bad", kind="ramp"))
    with pytest.raises(ConfigError, match=r"event #2 \('bad'\): kind 'ramp' not allowed"):
        load_events(path)


def test_missing_field_and_missing_id_name_the_position(tmp_path: Path) -> None:
    entry = GOOD.format(id="x", kind="step").replace("    source: test\n", "")
    with pytest.raises(ConfigError, match=r"'x'\): missing field\(s\) source"):
        load_events(write(tmp_path, entry))
    entry = GOOD.format(id="", kind="step")
    with pytest.raises(ConfigError, match=r"event #1: missing field\(s\) id"):
        load_events(write(tmp_path, entry))


def test_bad_region_date_and_duplicate_are_rejected(tmp_path: Path) -> None:
    bad_region = GOOD.format(id="r", kind="step").replace("regions: all", "regions: [mars]")
    with pytest.raises(ConfigError, match=r"'r'\): regions \['mars'\] not allowed"):
        load_events(write(tmp_path, bad_region))
    bad_date = GOOD.format(id="d", kind="step").replace("2023-01-08", "soon")
    with pytest.raises(ConfigError, match=r"'d'\): date 'soon' is not a date"):
        load_events(write(tmp_path, bad_date))
    twice = GOOD.format(id="t", kind="step")
    with pytest.raises(ConfigError, match="event 't': duplicate id"):
        load_events(write(tmp_path, twice, twice))


def test_events_announced_later_are_not_known_earlier() -> None:
    events = load_events(CALENDAR)
    ids = {e.id for e in known_as_of(events, pd.Timestamp("2022-12-01"))}
    assert "china-reopening" in ids  # announced 26 Dec 2022, within the month
    assert "parole-chn" not in ids  # announced 5 Jan 2023
    assert "title42-end" not in ids


def test_regressors_step_fraction_and_pulse() -> None:
    events = [e for e in load_events(CALENDAR) if e.id in {"china-reopening", "title42-end-rush"}]
    ds = pd.date_range("2022-12-01", periods=6, freq="MS")
    reg = regressors(events, "CN:southwest:usbp", ds)
    assert reg["china-reopening"].tolist()[:3] == [0.0, pytest.approx(24 / 31), 1.0]
    assert reg["title42-end-rush"].tolist() == [0, 0, 0, 0, 0, 1]
    assert list(regressors(events, "CN:northern:usbp", ds).columns) == ["china-reopening"]
    assert regressors(events, "MX:northern:usbp", ds).empty
