"""``/v1/admin``: start a retrain and follow it. Needs ``X-API-Key``.

The retrain runs in one background thread; the service keeps answering from
the current model version until the new one is published whole.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from service.deps import ApiKeyDep, ServicesDep
from service.jobs import JobBusy
from service.models import JobOut, Problem, RetrainIn

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    dependencies=[ApiKeyDep],
    responses={
        401: {"model": Problem, "description": "Missing or wrong X-API-Key."},
        404: {"model": Problem, "description": "No such job, or no API key configured."},
    },
)


@router.post(
    "/retrain",
    response_model=JobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"model": Problem, "description": "A retrain is already running."}},
)
async def retrain(
    services: ServicesDep, response: Response, body: RetrainIn | None = None
) -> JobOut:
    """Start retraining (all series, or the ones listed); answers 202 with the job at once."""
    try:
        job = services.jobs.submit(body.series if body else None)
    except JobBusy as busy:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"retrain {busy.job.id} is already {busy.job.status}",
            headers={"Location": f"/v1/admin/retrain/{busy.job.id}"},
        ) from None
    response.headers["Location"] = f"/v1/admin/retrain/{job.id}"
    return JobOut(**job.as_dict())


@router.get("/retrain/{job_id}", response_model=JobOut)
async def retrain_status(
    services: ServicesDep, job_id: Annotated[str, Path(max_length=64)]
) -> JobOut:
    """A retrain job: queued, running, succeeded (with the library's summary) or failed."""
    job = services.jobs.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no retrain job {job_id!r}")
    return JobOut(**job.as_dict())
