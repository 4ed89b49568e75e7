"""``LoopbackModelServer``: kserve's ``ModelServer`` with the REST bind address under our control.

kserve 0.21 builds its uvicorn config with ``host="0.0.0.0"`` inside ``RESTServer`` and starts
it from ``ModelServer.start``. ``start`` creates the REST server object, then runs ``_serve``
in the event loop before uvicorn binds; overriding ``_serve`` is the one hook between the
two, so the host is set there. Everything else is kserve's own code path.
"""

from __future__ import annotations

from typing import Any

from kserve import ModelServer


class LoopbackModelServer(ModelServer):
    """A ``ModelServer`` whose REST endpoint binds ``host`` (e.g. 127.0.0.1)."""

    def __init__(self, *, host: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host

    async def _serve(self) -> None:
        for rest in self._rest_servers():
            rest.config.host = self.host
        await super()._serve()

    def _rest_servers(self) -> list[Any]:
        servers = [self._rest_server]
        multi = self._rest_multiprocess_server
        if multi is not None:
            servers.append(getattr(multi, "_rest_server", None))
        return [s for s in servers if s is not None]
