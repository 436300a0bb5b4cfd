"""Whole responses of the read-only routes, kept by URL until the store changes.

A cached answer (:mod:`service.answers`) still pays FastAPI's routing, query
validation and dependency solving on every request: about 0.4 ms, three times
``/health``, which is what held ``GET /v1/forecasts/CN`` to a third of its
throughput under load (``bench/api.py``). The same URL gets the same answer
until the store's generation changes, so this ASGI middleware keeps the
complete ``200`` response (status, headers, body) of a ``GET`` under its path
and query string, in an :class:`~service.cache.AnswerCache` that
:class:`~service.refresh.Watcher` empties with the answers, and replays it
without entering the application. Anything else (errors, other methods, routes that need a key or
change by themselves) passes through untouched.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: A kept response: the ``http.response.start`` message and the whole body.
Response = tuple[Message, bytes]

#: Read-only routes whose answers depend only on the URL and the store.
CACHEABLE = ("/v1/forecasts/", "/v1/series/", "/v1/backtests/", "/v1/indicators/")


class ResponseCache:
    """Pure ASGI middleware (no ``BaseHTTPMiddleware``: it would cost more than it saves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = getattr(scope.get("app"), "state", None)
        services = getattr(services, "services", None)
        if (
            services is None
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or not scope["path"].startswith(CACHEABLE)
        ):
            await self.app(scope, receive, send)
            return
        cache = services.responses
        key = ("response", scope["path"], scope["query_string"])
        hit = cache.get(key)
        if hit is not None:
            start, body = hit
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        epoch = cache.epoch
        captured: dict[str, Any] = {"parts": []}

        async def keep(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["start"] = message
            elif message["type"] == "http.response.body":
                captured["parts"].append(message.get("body", b""))
                if not message.get("more_body", False):
                    captured["done"] = True
            await send(message)

        await self.app(scope, receive, keep)
        start = captured.get("start")
        if start is not None and start["status"] == 200 and captured.get("done"):
            cache.put(key, (start, b"".join(captured["parts"])), epoch)
