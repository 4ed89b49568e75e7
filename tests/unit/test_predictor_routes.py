"""The predictor's own routes: one installer, errors that stop the start, and the child hook."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from kserve.errors import ModelNotReady, model_not_ready_handler
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.model_repository_extension import ModelRepositoryExtension
from kserve.protocol.rest.server import RESTServer

from predictor.auth import AcceptedTokens
from predictor.model import CategoryModel
from predictor.routes import KSERVE_APP, RoutedRESTServer, Routes, install_routes

TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def unloaded(tmp_path: Path) -> CategoryModel:
    return CategoryModel("cm", tmp_path, device="cpu")  # never loaded: nothing to serve


def app_for(model: CategoryModel, token: str | None) -> FastAPI:
    tokens = AcceptedTokens(token) if token else None
    app = FastAPI()
    app.add_exception_handler(ModelNotReady, model_not_ready_handler)  # as kserve's app has
    install_routes(app, model, tokens, None)
    install_routes(app, model, tokens, None)  # once per app, whoever calls it again
    return app


def test_predict_with_nothing_loaded_is_503_and_needs_the_token(unloaded: CategoryModel):
    client = TestClient(app_for(unloaded, "s3cret"))
    assert client.post("/predict", json={"text": ["kettle"]}).status_code == 401
    answer = client.post("/predict", json={"text": ["kettle"]}, headers=TOKEN)
    assert answer.status_code == 503, answer.text
    assert "not ready" in answer.json()["error"]


def test_one_installer_puts_everything_on_the_app_token_check_outermost(
    unloaded: CategoryModel,
):
    app = app_for(unloaded, "s3cret")
    assert "/predict" in {getattr(r, "path", None) for r in app.routes}
    names = [m.cls.__name__ for m in app.user_middleware]  # outermost first
    # no body is read for a caller without a token; the limit holds before any parsing
    assert names == ["BearerAuth", "BodyLimit", "RefuseBinaryExtension", "VersionedInferPath"]


def test_a_caller_without_the_token_gets_401_before_its_body_is_read(unloaded: CategoryModel):
    client = TestClient(app_for(unloaded, "s3cret"))
    huge = b"x" * (17 * 1024 * 1024)
    assert client.post("/predict", content=huge).status_code == 401
    assert client.post("/predict", content=huge, headers=TOKEN).status_code == 413


def test_an_installer_error_propagates(unloaded: CategoryModel):
    app = FastAPI()
    TestClient(app).get("/")  # the app has started: starlette refuses new middleware
    with pytest.raises(RuntimeError):
        install_routes(app, unloaded, AcceptedTokens("s3cret"), None)


def test_child_server_carries_the_served_model_itself(unloaded: CategoryModel, tmp_path: Path):
    (tmp_path / "tokens").write_text("next-one\n")
    repository = ModelRepository()
    repository.update(unloaded, unloaded.name)
    rest = RESTServer(
        KSERVE_APP,
        DataPlane(model_registry=repository),
        ModelRepositoryExtension(model_registry=repository),
        http_port=0,
    )
    tokens = AcceptedTokens("s3cret", tmp_path / "tokens")
    routed = RoutedRESTServer.adopt(rest, Routes(unloaded, tokens, None))
    assert routed.config is rest.config and routed.dataplane is rest.dataplane
    # kserve pickles the whole server into each child in one go (spawn), so the routes'
    # model is the object the child's data plane serves, not a second copy.
    child = pickle.loads(pickle.dumps(routed))
    assert isinstance(child, RoutedRESTServer) and child.routes.tokens is not None
    # the child gets the tokens, and watches the token file on its own
    assert [c.secret for c in child.routes.tokens.credentials()] == ["s3cret", "next-one"]
    assert child.routes.model is child.dataplane.model_registry.get_model("cm")
