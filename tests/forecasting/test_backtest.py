"""Backtests: as-of training only, length checks first, metrics that mean what they say."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from forecasting import models as m
from forecasting.backtest import cross_validate, evaluate, summarize
from forecasting.errors import ModelError


def frame(n: int = 60, uids=("A:southwest:usbp", "B:southwest:usbp")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for i, uid in enumerate(uids):
        y = np.round(1000 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 0.1, n))))
        ds = pd.date_range("2018-01-01", periods=n, freq="MS")
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


class Spy(m.RandomWalk):
    """Records the last month of every history it is fitted on."""

    seen: ClassVar[list[tuple[pd.Timestamp, pd.Timestamp]]] = []

    def __init__(self, cutoff: pd.Timestamp) -> None:
        super().__init__()
        self.cutoff = cutoff

    def _fit(self, history: pd.DataFrame) -> None:
        Spy.seen.append((self.cutoff, history["ds"].max()))


class Oracle(m.LogModel):
    """Knows the future: must beat the random walk by a wide margin."""

    def __init__(self, truth: pd.DataFrame) -> None:
        super().__init__()
        self.truth = truth.set_index("ds")["y"]

    def delta(self, h: int) -> np.ndarray:
        ds = pd.date_range(self.ds_[-1], periods=h + 1, freq="MS")[1:]
        future = self.truth.reindex(ds).ffill().fillna(np.expm1(self.z_[-1]))
        return np.log1p(future.to_numpy()) - self.z_[-1]


def test_too_short_series_are_named_before_any_work() -> None:
    data = frame()
    late = data[data["unique_id"] == "B:southwest:usbp"].iloc[30:]
    data = pd.concat([data[data["unique_id"] == "A:southwest:usbp"], late])
    with pytest.raises(ModelError, match=r"too short .* B:southwest:usbp"):
        cross_validate(data, {"rw": lambda u, c: m.RandomWalk()}, ["2020-06-01"], 3)


def test_each_fit_sees_only_months_up_to_its_cutoff() -> None:
    Spy.seen.clear()
    origins = pd.date_range("2021-01-01", periods=4, freq="3MS")
    cv = cross_validate(frame(), {"spy": lambda u, c: Spy(c)}, origins, 6)
    assert Spy.seen and all(last == cutoff for cutoff, last in Spy.seen)
    assert (cv["ds"] > cv["cutoff"]).all()
    assert (
        (cv["ds"].dt.year - cv["cutoff"].dt.year) * 12 + cv["ds"].dt.month - cv["cutoff"].dt.month
        == cv["h"]
    ).all()
    assert set(cv.columns) >= {"unique_id", "model", "cutoff", "ds", "h", "y", "mean", "lo-80"}


def test_targets_after_the_data_are_left_out() -> None:
    cv = cross_validate(frame(), {"rw": lambda u, c: m.RandomWalk()}, ["2022-10-01"], 6)
    assert cv["ds"].max() == pd.Timestamp("2022-12-01") and cv["h"].max() == 2


def test_relative_mae_is_one_for_the_random_walk_and_below_for_an_oracle() -> None:
    data = frame()
    truths = {u: g for u, g in data.groupby("unique_id")}
    models = {"rw": lambda u, c: m.RandomWalk(), "oracle": lambda u, c: Oracle(truths[u])}
    origins = pd.date_range("2020-01-01", periods=8, freq="3MS")
    cv = cross_validate(data, models, origins, 6)
    table = summarize(cv)
    assert table.loc["rw", "rel_mae"] == pytest.approx(1.0)
    assert table.loc["oracle", "rel_mae"] < 0.1 and table.loc["oracle", "mase"] < 0.1
    assert {f"rel_mae_h{h}" for h in range(1, 7)} <= set(table.columns)
    metrics = evaluate(cv)
    rw = metrics[(metrics["model"] == "rw") & (metrics["h"] == "all")]
    assert len(rw) == 2 and np.allclose(rw["rel_mae"], 1.0)
    one = metrics[(metrics["model"] == "oracle") & (metrics["h"] == 1)]
    assert (one["cov-80"] == 1.0).all() and (one["smape"] < 0.01).all()
