"""``/v1/backtests``: how good the published model is, against the baselines."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service import backend
from service.answers import cached_json, series_headers
from service.deps import SeriesDep, ServicesDep
from service.models import BacktestOut, Problem

router = APIRouter(prefix="/v1/backtests", tags=["backtests"])


@router.get(
    "/{citizenship}",
    response_model=BacktestOut,
    responses={
        404: {"model": Problem, "description": "Unknown citizenship or series."},
        503: {"model": Problem, "description": "No model (and so no backtest) yet."},
    },
)
async def backtest(services: ServicesDep, ref: SeriesDep) -> Response:
    """Rolling-origin backtest metrics per model (MASE, sMAPE, AvgRelMAE, coverage by horizon).

    Published with the model, so read from the store, never recomputed here.
    """

    def compute() -> BacktestOut:
        return BacktestOut.model_validate(
            backend.get_backtest(services.store, ref.code, ref.region, ref.component)
        )

    return await cached_json(
        services.answers,
        ("backtest", ref.unique_id),
        compute,
        series_headers(ref.unique_id, ref.defaulted),
    )
