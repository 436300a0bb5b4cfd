"""Dependencies as ``Annotated`` aliases: store, caches, settings, the series a request means.

Everything a route needs comes from ``app.state.services``, built once in the
lifespan (:func:`service.app.create_app`), so tests can hand the app a store of
their own and override settings through ``get_settings.cache_clear()``.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader

from forecasting.names import Citizenship, resolve
from forecasting.settings import Settings, get_settings
from forecasting.store import Store
from service.cache import AnswerCache
from service.catalog import Catalog, SeriesRef
from service.jobs import RetrainJobs
from service.models import MONTH_PATTERN, Component, Region
from service.refresh import Watcher
from service.response_cache import Response


@dataclass
class Services:
    """What the lifespan builds once per process."""

    store: Store
    catalog: Catalog
    answers: AnswerCache[bytes]
    responses: AnswerCache[Response]
    jobs: RetrainJobs
    watcher: Watcher


async def get_services(request: Request) -> Services:
    """Async on purpose: a sync dependency would cost a worker-thread hop on every request."""
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

CitizenshipPath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=100,
        description="ISO code, name or any source spelling, any case: CN, china, "
        "'CHINA, PEOPLES REPUBLIC OF'.",
        examples=["CN"],
    ),
]
RegionQuery = Annotated[
    Region | None, Query(description="Defaults to 'all' where that series exists.")
]
ComponentQuery = Annotated[
    Component | None,
    Query(description="Defaults to 'all' where that series exists, else usbp, then ofo."),
]
AsOfQuery = Annotated[
    str | None,
    Query(
        pattern=MONTH_PATTERN,
        description="YYYY-MM: answer with only the data (and events) known through that month.",
        examples=["2022-12"],
    ),
]


async def citizenship_from_path(citizenship: CitizenshipPath) -> Citizenship:
    """Resolve a citizenship; ``UnknownCitizenship`` (404 with suggestions) when nothing matches."""
    return resolve(citizenship)


async def series_ref(
    services: ServicesDep,
    citizenship: Annotated[Citizenship, Depends(citizenship_from_path)],
    region: RegionQuery = None,
    component: ComponentQuery = None,
) -> SeriesRef:
    """The series a request means, choosing region and component by the catalog's fixed order."""
    catalog = services.catalog
    if catalog.fresh:
        return catalog.choose(citizenship, region, component)
    return await run_in_threadpool(catalog.choose, citizenship, region, component)


SeriesDep = Annotated[SeriesRef, Depends(series_ref)]

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="The value of BORDERCAST_API_KEY. Without it configured these routes are off "
    "(404).",
)


async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(api_key_header)] = None
) -> None:
    """Let a request through only with the configured key.

    No key configured means the protected routes are switched off: 404, as if
    they did not exist, never open. A missing or wrong key is 401. Keys are
    compared in constant time, as bytes (a non-ASCII header must not raise).
    """
    if settings.api_key is None or not settings.api_key.get_secret_value():
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "this route is disabled: the server has no BORDERCAST_API_KEY configured",
        )
    expected = settings.api_key.get_secret_value().encode()
    if key is None or not hmac.compare_digest(key.encode("utf-8", "surrogateescape"), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing or wrong X-API-Key header",
            headers={"WWW-Authenticate": "APIKey"},
        )


ApiKeyDep = Depends(require_api_key)
