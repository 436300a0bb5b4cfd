"""The FastAPI application: built by :func:`create_app`, errors mapped to statuses here only.

``bordercast serve`` runs ``uvicorn service.app:create_app --factory``. The
store is opened in the lifespan, from ``BORDERCAST_DATABASE_URL`` as read at
start-up, never at import, so one process can serve a test database and
another the real one. The service starts and answers ``/health`` with no model
trained; forecast routes then answer 503 with the reason.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pydantic
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from forecasting.errors import (
    BordercastError,
    ModelError,
    NoModel,
    UnknownCitizenship,
)
from forecasting.settings import get_settings
from forecasting.store import Store
from service import backend
from service.api import router
from service.cache import AnswerCache
from service.catalog import Catalog
from service.deps import Services
from service.jobs import RetrainJobs
from service.models import Problem
from service.refresh import Watcher
from service.response_cache import Response, ResponseCache

log = logging.getLogger(__name__)

HERE = Path(__file__).parent

DESCRIPTION = """
Forecasts and surge alerts for U.S. border encounters by citizenship.

Citizenships are accepted as ISO code, name or any source spelling, in any
case. Region and component default to `all` where that series exists,
otherwise to the first existing one in the order southwest, northern, other /
usbp, ofo (answers name the series they used). Forecasts and alerts take
`as_of=YYYY-MM` to answer with only what was known then.

Errors: 404 for an unknown citizenship (with `suggestions`) or series, 422 for
a bad parameter (naming it), 503 with a `reason` when no model is trained yet.
Subscriptions and retraining need `X-API-Key`; on a server without
`BORDERCAST_API_KEY` they are switched off and answer 404.
"""


def problem(exc: Exception) -> tuple[int, dict[str, object]]:
    """The one mapping from library errors to HTTP statuses and bodies.

    Order matters: the most specific types first. Input errors (``ValueError``
    and ``LookupError`` subclasses of the library's tree) are the caller's
    fault and never answer 500.
    """
    if isinstance(exc, UnknownCitizenship):
        return 404, {"detail": str(exc), "suggestions": exc.suggestions}
    if isinstance(exc, NoModel):
        return 503, {"detail": str(exc), "reason": "no trained model for this series yet"}
    if isinstance(exc, ModelError):
        return 503, {"detail": str(exc), "reason": f"model unavailable ({type(exc).__name__})"}
    if isinstance(exc, pydantic.ValidationError):
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        return 422, {"detail": errors}
    if isinstance(exc, LookupError):
        return 404, {"detail": str(exc)}
    if isinstance(exc, ValueError):
        return 422, {"detail": str(exc)}
    return 500, {"detail": f"{type(exc).__name__}: {exc}"}


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    code, body = problem(exc)
    if code >= 500:
        log.warning("%s %s -> %s: %s", request.method, request.url.path, code, exc)
    return JSONResponse(body, status_code=code)


def version() -> str:
    """The installed package's version (a checkout without ``pip install -e`` says so)."""
    try:
        return importlib.metadata.version("bordercast")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def build_services(store: Store) -> Services:
    """The per-process state: the answer cache, the catalog, its watcher, one retrain worker."""
    answers: AnswerCache[bytes] = AnswerCache(maxsize=2048)
    responses: AnswerCache[Response] = AnswerCache(maxsize=2048)
    catalog = Catalog(store)
    watcher = Watcher(store, catalog, [answers, responses], get_settings().refresh_seconds)

    def on_finish(ok: bool) -> None:
        if ok:  # published here: refresh now rather than at the next poll
            watcher.check(force=True)

    jobs = RetrainJobs(lambda series: backend.retrain(store, series), on_finish=on_finish)
    return Services(
        store=store,
        catalog=catalog,
        answers=answers,
        responses=responses,
        jobs=jobs,
        watcher=watcher,
    )


def create_app(store: Store | None = None) -> FastAPI:
    """The application; ``store`` lets tests share one ingested database across apps.

    Without ``store`` the lifespan opens (and migrates) the one in
    ``BORDERCAST_DATABASE_URL`` and disposes of it on shutdown.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own = store is None
        opened = (
            store
            if store is not None
            else await run_in_threadpool(Store, get_settings().database_url)
        )
        services = build_services(opened)
        app.state.services = services
        await run_in_threadpool(services.watcher.check)
        if own:
            # What start-up loaded (pandas, matplotlib, the catalog) lives as long as
            # the server: out of the collector's sight, a full collection no longer
            # walks it while requests wait (it set the p99 of bench/api.py). Apps
            # given a store are tests' and are not frozen.
            gc.collect()
            gc.freeze()
        watching = asyncio.create_task(services.watcher.run())
        try:
            yield
        finally:
            watching.cancel()
            services.jobs.shutdown()
            if own:
                opened.engine.dispose()

    app = FastAPI(
        title="Bordercast",
        version=version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        responses={
            400: {"model": Problem, "description": "The request body is not valid JSON."},
            422: {"model": Problem, "description": "A parameter is invalid; the answer names it."},
        },
    )
    for exc_type in (BordercastError, pydantic.ValidationError):
        app.add_exception_handler(exc_type, _handle)  # type: ignore[arg-type]
    app.include_router(router)
    app.add_middleware(ResponseCache)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    return app
