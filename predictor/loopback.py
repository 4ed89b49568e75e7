"""``LoopbackModelServer``: kserve's ``ModelServer`` with our bind address and our routes.

kserve 0.21 builds its uvicorn config with ``host="0.0.0.0"`` inside ``RESTServer`` and starts
it from ``ModelServer.start``. ``start`` creates the REST server object, then runs ``_serve``
in the event loop before uvicorn binds; overriding ``_serve`` is the one hook between the
two, so the host is set there.

The same hook puts the predictor's routes (:mod:`predictor.routes`) on whichever app will
serve: this process's app when ``workers == 1``, each child's app when ``workers > 1`` (by
handing kserve's multi-process server a :class:`~predictor.routes.RoutedRESTServer`). The
accepted tokens and the cache settings are the server's, given to its constructor; the model is the
one passed to :meth:`start`. Everything else is kserve's own code path.
"""

from __future__ import annotations

from typing import Any

from kserve import ModelServer
from uvicorn.importer import import_from_string

from core.settings import CacheSettings
from predictor.auth import AcceptedTokens
from predictor.body_limit import DEFAULT_MAX_BODY_BYTES
from predictor.model import CategoryModel
from predictor.routes import KSERVE_APP, RoutedRESTServer, Routes


class LoopbackModelServer(ModelServer):  # type: ignore[misc]  # kserve ships no type information
    """A ``ModelServer`` whose REST endpoint binds ``host`` and serves the predictor's routes.

    Args:
        host: the REST bind address (e.g. 127.0.0.1).
        tokens: the bearer tokens a request may carry (``None``: no check).
        cache_settings: the result cache of ``POST /predict`` (``None``: no cache).
        max_body_bytes: larger request bodies get HTTP 413, unread.
        **kwargs: kserve's ``ModelServer`` arguments.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        tokens: AcceptedTokens | None = None,
        cache_settings: CacheSettings | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.tokens = tokens
        self.cache_settings = cache_settings
        self.max_body_bytes = max_body_bytes
        self._routes: Routes | None = None

    def start(self, models: list[Any]) -> None:
        """Serve ``models`` (one :class:`~predictor.model.CategoryModel`) until stopped."""
        ours = [m for m in models if isinstance(m, CategoryModel)]
        if len(ours) != 1:
            raise ValueError(f"serve exactly one CategoryModel, got {len(ours)}")
        self._routes = Routes(ours[0], self.tokens, self.cache_settings, self.max_body_bytes)
        super().start(models)

    async def _serve(self) -> None:
        for rest in self._rest_servers():
            rest.config.host = self.host
        self._install_routes()
        await super()._serve()

    def _install_routes(self) -> None:
        assert self._routes is not None, "start() sets the routes"
        multi = self._rest_multiprocess_server
        if multi is None:
            self._routes.install(import_from_string(KSERVE_APP))
        else:
            multi._rest_server = RoutedRESTServer.adopt(multi._rest_server, self._routes)

    def _rest_servers(self) -> list[Any]:
        servers = [self._rest_server]
        multi = self._rest_multiprocess_server
        if multi is not None:
            servers.append(getattr(multi, "_rest_server", None))
        return [s for s in servers if s is not None]
