"""``GET /health``: liveness, answered before any model exists and without the database."""

from __future__ import annotations

from fastapi import APIRouter, Request

from service.deps import ServicesDep
from service.models import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(request: Request, services: ServicesDep) -> Health:
    """The process is up; ``retraining`` says whether a retrain job is running here."""
    return Health(version=request.app.version, retraining=services.jobs.active is not None)
