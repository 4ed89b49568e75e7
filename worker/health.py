"""Per-worker HTTP endpoints: ``/metrics`` (Prometheus), ``/healthz`` and ``/readyz``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from worker.metrics import METRICS

log = logging.getLogger(__name__)

Probe = Callable[[], tuple[bool, dict[str, Any]]]


class HealthServer:
    """Serves the endpoints on the worker's own event loop."""

    def __init__(self, host: str, port: int, live: Probe, ready: Probe) -> None:
        self._host = host
        self._port = port
        self._live = live
        self._ready = ready
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._probe(self._live))
        app.router.add_get("/readyz", self._probe(self._ready))
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes no public accessor for the bound port
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1] if sockets else self._port
        log.info("metrics and probes on http://%s:%s", self._host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    async def _metrics(_: web.Request) -> web.Response:
        body = generate_latest(METRICS.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @staticmethod
    def _probe(check: Probe) -> Callable[[web.Request], Any]:
        async def handler(_: web.Request) -> web.Response:
            ok, detail = check()
            return web.json_response(detail, status=200 if ok else 503)

        return handler
