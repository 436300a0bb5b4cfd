"""A store of the CBP state releases and the transit files, and China's series in it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from forecasting.indicators import indicator_frame
from forecasting.ingest import ingest
from forecasting.leading import citizenship_indicators
from forecasting.store import Store
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD, DATA

CN = "CN:southwest:all"


def upto(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The rows of a long frame up to and including ``month``: a history as of then."""
    return frame[frame["ds"] <= pd.Timestamp(month)]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    db = tmp_path_factory.mktemp("transit") / "store.db"
    s = Store(f"sqlite:///{db}")
    for path in (CBP_STATE_OLD, CBP_STATE_NEW, *sorted((DATA / "transit").glob("*.csv"))):
        ingest(s, str(Path(path)))
    return s


@pytest.fixture(scope="module")
def china(store: Store) -> pd.DataFrame:
    frame = store.series_frame([CN])
    return frame.reset_index(drop=True)


@pytest.fixture(scope="module")
def china_indicators(store: Store) -> pd.DataFrame:
    return citizenship_indicators(indicator_frame(store), "CN")
