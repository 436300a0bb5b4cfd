"""``/v1/alerts``: the stored surge and drop alerts, or what detection found as of a month."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from forecasting.names import resolve
from service import backend
from service.answers import cached_json
from service.deps import AsOfQuery, ComponentQuery, RegionQuery, ServicesDep
from service.models import AlertKind, AlertsOut, AlertStatus, Problem, Severity

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get(
    "",
    response_model=AlertsOut,
    responses={
        404: {"model": Problem, "description": "Unknown citizenship (with suggestions)."},
        503: {"model": Problem, "description": "Alerts are not available on this server."},
    },
)
async def alerts(
    services: ServicesDep,
    as_of: AsOfQuery = None,
    citizenship: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Code, name or spelling.")
    ] = None,
    region: RegionQuery = None,
    component: ComponentQuery = None,
    severity: Severity | None = None,
    kind: AlertKind | None = None,
    status: AlertStatus | None = None,
) -> Response:
    """Alerts in the shape of ``bordercast detect --json``.

    Without ``as_of``: the stored alerts, filtered. With ``as_of``: what
    detection found with the data through that month (``as_of=2022-12&
    citizenship=CN&region=southwest``), filtered the same way.
    """
    code = resolve(citizenship).code if citizenship else None

    def compute() -> AlertsOut:
        if as_of is None:
            found: list[dict[str, Any]] = backend.list_alerts(
                services.store,
                citizenship=code,
                region=region,
                component=component,
                severity=severity,
                kind=kind,
                status=status,
            )
            return AlertsOut(as_of=None, alerts=found)  # type: ignore[arg-type]
        detected = backend.detect_as_of(
            services.store, as_of, citizenship=code, region=region, component=component
        )
        kept = [
            a
            for a in detected["alerts"]
            if (severity is None or a["severity"] == severity)
            and (kind is None or a["kind"] == kind)
            and (status is None or a["status"] == status)
        ]
        return AlertsOut(as_of=detected.get("as_of", as_of), alerts=kept)  # type: ignore[arg-type]

    key = ("alerts", as_of, code, region, component, severity, kind, status)
    return await cached_json(services.answers, key, compute)
