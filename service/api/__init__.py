"""Every router of the service, gathered here and mounted once by :func:`service.app.create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from service.api import (
    admin,
    alerts,
    backtests,
    forecasts,
    health,
    indicators,
    pages,
    scenarios,
    series,
    subscriptions,
)

router = APIRouter()
for module in (
    health,
    series,
    forecasts,
    alerts,
    backtests,
    indicators,
    scenarios,
    subscriptions,
    admin,
    pages,
):
    router.include_router(module.router)
