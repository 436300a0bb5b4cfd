"""Serving cached answers: the rendered JSON bytes, validated once against the response model.

Returning a ``Response`` skips FastAPI's per-request validation and
serialisation of the response model; the model still documents the route and
still checks the answer, once, when it is rendered and cached. A hit costs a
dict lookup on the event loop; a miss runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from fastapi import Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from service.cache import AnswerCache


async def cached_json(
    cache: AnswerCache[bytes],
    key: Hashable,
    compute: Callable[[], BaseModel],
    headers: dict[str, str] | None = None,
) -> Response:
    """The JSON answer under ``key``, computed by ``compute`` (blocking) on a miss."""
    body = cache.get(key)
    if body is None:
        body = await run_in_threadpool(
            cache.get_or_compute, key, lambda: compute().model_dump_json().encode()
        )
    return Response(body, media_type="application/json", headers=headers)


async def cached_bytes(
    cache: AnswerCache[bytes],
    key: Hashable,
    compute: Callable[[], bytes],
    media_type: str,
) -> Response:
    """Like :func:`cached_json` for rendered charts."""
    body = cache.get(key)
    if body is None:
        body = await run_in_threadpool(cache.get_or_compute, key, compute)
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=60"})


def series_headers(unique_id: str, defaulted: tuple[str, ...]) -> dict[str, str]:
    """Name the series an answer is about, and what was chosen by default, in headers too."""
    headers = {"X-Bordercast-Series": unique_id}
    if defaulted:
        headers["X-Bordercast-Defaulted"] = ",".join(defaulted)
    return headers
