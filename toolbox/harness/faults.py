"""Fault injection in front of a REAL predictor: an HTTP proxy whose behaviour is switched.

The proxy forwards every request to a running ``python -m predictor`` and can instead answer
inference requests with a fixed status (401, 403, 500, 503...), delay them, or answer only
some of them wrongly. Workers point their ``predictor.url`` at the proxy, exactly as they
would at an InferenceService URL behind an ingress that misbehaves. Used by the drills and
the tests; it listens on loopback only.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from toolbox.harness.children import LOOPBACK, free_port


@dataclass
class Fault:
    """What the proxy does with an inference request.

    ``status``: answer with this HTTP status instead of forwarding (``None``: forward).
    ``delay_s``: wait this long first. ``when``: a predicate on the request body; the fault
    applies only where it returns True (e.g. only requests that contain a poison text).
    """

    status: int | None = None
    delay_s: float = 0.0
    body: str = "injected fault"
    when: Callable[[bytes], bool] | None = None


class FaultProxy:
    """An aiohttp reverse proxy on its own thread and event loop."""

    def __init__(self, upstream: str, port: int | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.fault = Fault()
        self.seen: Counter[int] = Counter()  # statuses answered to inference requests
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    def set(self, fault: Fault | None = None) -> None:
        """Switch the behaviour (``None``: forward everything)."""
        self.fault = fault or Fault()

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, LOOPBACK, self.port).start()

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        fault = self.fault
        infer = request.path.endswith("/infer")
        applies = infer and (fault.when is None or fault.when(body))
        if applies and fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if applies and fault.status is not None:
            self.seen[fault.status] += 1
            return web.Response(status=fault.status, text=fault.body)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        try:
            async with self._session.request(
                request.method, self.upstream + request.path_qs, data=body, headers=headers
            ) as upstream:
                payload = await upstream.read()
                if infer:
                    self.seen[upstream.status] += 1
                return web.Response(
                    status=upstream.status,
                    body=payload,
                    content_type=upstream.content_type,
                )
        except aiohttp.ClientError as exc:
            return web.Response(status=502, text=f"upstream: {exc}")
