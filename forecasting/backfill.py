"""Keeping the training plans of past months, so as-of forecasts of them are exact.

An as-of forecast without its month's plan is only the quick refit of one
series (:mod:`forecasting.forecasts`). Building a plan takes about 35 s on
the bundled store, too long for a request, so ``bordercast backfill``
builds them ahead, in the configuration of the newest training.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import pandas as pd

from forecasting.settings import get_settings
from forecasting.store import Store
from forecasting.training import month_plan
from forecasting.vintages import Config, served_config


def backfill(
    store: Store, months: Iterable[pd.Timestamp], n_jobs: int = 2, how: Config | None = None
) -> list[dict[str, Any]]:
    """Build and keep each month's plan where none is kept for the data as it is now."""
    how = how or served_config(store, get_settings().train_indicators)
    done = []
    for month in months:
        started = time.perf_counter()
        _, status = month_plan(store, month, how, build=True, n_jobs=n_jobs)
        done.append(
            {
                "month": f"{month:%Y-%m}",
                "config": how.name,
                "status": status,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    return done
