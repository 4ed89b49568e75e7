"""The predictor's own routes on kserve's FastAPI app, installed in every serving process.

Beside kserve's V1/V2 endpoints the predictor serves these things of its own:

- a bound on request bodies, before anything parses them (:mod:`predictor.body_limit`), and
  a 422 for every body that fails validation (:mod:`predictor.validation_errors`), a 400
  for V2's binary tensor extension (:mod:`predictor.binary_extension`);
- the bearer-token check (:mod:`predictor.auth`), when ``serve.token`` or
  ``serve.token_file`` is set;
- version pinning: the versioned V2 URL and the HTTP 409 for a version not loaded
  (:mod:`predictor.pinning`);
- ``POST /predict`` with the result cache (:mod:`predictor.predict_api`).

:func:`install_routes` installs them all, and it is the only place that does. It fails
hard: a process whose token check is missing must not serve, so any error stops the start.

Where it runs (kserve 0.21, ``kserve/model_server.py`` and ``protocol/rest/``):

- ``workers == 1``: the app is this process's ``kserve.model_server.app``, and
  :class:`~predictor.loopback.LoopbackModelServer` installs the routes on it before uvicorn
  starts.
- ``workers > 1``: kserve spawns each child with a pickled ``RESTServer`` whose ``run`` builds
  the child's own app (``create_application`` imports ``kserve.model_server:app`` afresh in
  the child). The server swaps that ``RESTServer`` for a :class:`RoutedRESTServer`, which
  carries the :class:`Routes` (model, accepted tokens, cache settings) across the pickle and
  installs them in ``create_application``, in the child. The model needs no web hook of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from kserve.protocol.rest.server import RESTServer
from uvicorn.importer import import_from_string

from core.settings import CacheSettings
from predictor import (
    auth,
    binary_extension,
    body_limit,
    pinning,
    predict_api,
    validation_errors,
)
from predictor.auth import AcceptedTokens
from predictor.model import CategoryModel

# Where kserve's RESTServer finds its app (kserve.constants.FASTAPI_APP_IMPORT_STRING).
KSERVE_APP = "kserve.model_server:app"


def install_routes(
    app: FastAPI,
    model: CategoryModel,
    tokens: AcceptedTokens | None,
    cache_settings: CacheSettings | None,
    max_body_bytes: int = body_limit.DEFAULT_MAX_BODY_BYTES,
) -> None:
    """Install the body limit, the token check, version pinning and ``POST /predict`` on
    ``app`` (once).

    The last middleware added runs first: the token check, then the body limit (a caller
    without a token gets 401 before a byte of its body is read), then the version rewrite.
    Errors propagate: the caller must not serve without them.
    """
    pinning.install(app)
    binary_extension.install(app)
    validation_errors.install(app)
    body_limit.install(app, max_body_bytes)
    auth.install(app, tokens)
    predict_api.install(app, model, cache_settings)


@dataclass(frozen=True)
class Routes:
    """What :func:`install_routes` needs, in a form that crosses a process boundary.

    The tokens are kept apart from the model on purpose: the model is served data, the
    tokens are the server's configuration. Each child watches its own copy of the token file.
    """

    model: CategoryModel
    tokens: AcceptedTokens | None
    cache_settings: CacheSettings | None
    max_body_bytes: int = body_limit.DEFAULT_MAX_BODY_BYTES

    def install(self, app: FastAPI) -> None:
        install_routes(app, self.model, self.tokens, self.cache_settings, self.max_body_bytes)


class RoutedRESTServer(RESTServer):  # type: ignore[misc]  # kserve ships no type information
    """kserve's ``RESTServer`` that adds :class:`Routes` to the app it builds.

    Made from the ``RESTServer`` kserve already configured (:meth:`adopt`), so everything
    but the routes is kserve's own. Pickled into each ``workers > 1`` child with the rest of
    kserve's server: the model in :attr:`routes` is the very object the child's data plane
    serves, because one pickle carries both.
    """

    routes: Routes

    @classmethod
    def adopt(cls, server: Any, routes: Routes) -> RoutedRESTServer:
        """A copy of kserve's configured ``server`` that also installs ``routes``."""
        routed: RoutedRESTServer = cls.__new__(cls)
        routed.__dict__.update(vars(server))
        routed.routes = routes
        return routed

    def create_application(self) -> None:
        self.routes.install(import_from_string(KSERVE_APP))
        super().create_application()
