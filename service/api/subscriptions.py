"""``/v1/subscriptions``: who gets an e-mail or a webhook call when a series surges.

Every route needs ``X-API-Key``; a server without ``BORDERCAST_API_KEY``
answers 404, so an unconfigured deployment is closed, not open.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from service import backend
from service.deps import ApiKeyDep, ServicesDep
from service.models import Problem, SubscriptionIn, SubscriptionOut

router = APIRouter(
    prefix="/v1/subscriptions",
    tags=["subscriptions"],
    dependencies=[ApiKeyDep],
    responses={
        401: {"model": Problem, "description": "Missing or wrong X-API-Key."},
        404: {"model": Problem, "description": "No such subscription, or no API key configured."},
    },
)


@router.get("", response_model=list[SubscriptionOut])
def list_subscriptions(services: ServicesDep) -> list[dict[str, Any]]:
    """Every live subscription, oldest first; secrets are never shown."""
    return backend.list_subscriptions(services.store)


@router.post("", response_model=SubscriptionOut, status_code=status.HTTP_201_CREATED)
def create_subscription(body: SubscriptionIn, services: ServicesDep) -> dict[str, Any]:
    """Subscribe an e-mail address or a webhook (with a 16+ character signing secret)."""
    spec = body.model_dump()
    spec["secret"] = body.secret.get_secret_value() if body.secret else None
    return backend.create_subscription(services.store, spec)


@router.delete(
    "/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_subscription(
    subscription_id: Annotated[int, Path(ge=1, le=2**62)], services: ServicesDep
) -> Response:
    """Delete a subscription; what is still queued for it is cancelled."""
    backend.delete_subscription(services.store, subscription_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
