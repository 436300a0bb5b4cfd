"""``POST /v1/scenarios``: "what if this policy ends, or Darién crossings fall?"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from forecasting.names import resolve
from service import backend
from service.deps import ServicesDep
from service.models import PolicyEventIn, Problem, ScenarioIn, ScenarioOut

router = APIRouter(prefix="/v1/scenarios", tags=["scenarios"])


def _event(event: PolicyEventIn, code: str) -> dict[str, Any]:
    """An added event in the calendar's shape; by default it touches the scenario's citizenship."""
    return {
        "id": event.id,
        "date": event.date.isoformat(),
        "announced": (event.announced or event.date).isoformat(),
        "kind": event.kind,
        "citizenships": [resolve(c).code for c in event.citizenships] or [code],
        "regions": list(event.regions),
        "source": event.source,
    }


@router.post(
    "",
    response_model=ScenarioOut,
    responses={
        404: {
            "model": Problem,
            "description": "Unknown citizenship or series, or an indicator the citizenship lacks.",
        },
        422: {"model": Problem, "description": "A parameter is invalid; the answer names it."},
        503: {"model": Problem, "description": "No model trained for this series yet."},
    },
)
def scenario(body: ScenarioIn, services: ServicesDep) -> dict[str, Any]:
    """A forecast from the current model with policy events or transit indicator paths edited.

    Computed per request (a scenario is a refit with other regressors), in a
    worker thread. The answer holds the baseline forecast beside the scenario,
    the events the scenario used and, for indicator paths, each path with the
    indicator's lead, correlation and effect per month. An indicator the
    citizenship has no series of answers 404; a path that cannot apply (a
    month not after the indicator's last published one) 422.
    """
    ref = services.catalog.choose(resolve(body.citizenship), body.region, body.component)
    return backend.scenario_forecast(
        services.store,
        ref.code,
        ref.region,
        ref.component,
        add_events=[_event(e, ref.code) for e in body.add_events],
        remove_event_ids=list(body.remove_event_ids),
        move={k: v.isoformat() for k, v in body.move.items()},
        horizon=body.horizon,
        level=body.level,
        indicators=[p.edit() for p in body.indicators],
    )
