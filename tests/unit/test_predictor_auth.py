"""The predictor's bearer-token check: 401 without the token, probes exempt."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from predictor import auth


def app_with(token: str | None) -> TestClient:
    app = FastAPI()

    @app.get("/v2/health/ready")
    def ready() -> dict:
        return {"ready": True}

    @app.get("/v2/models/{name}/ready")
    def model_ready(name: str) -> dict:
        return {"name": name, "ready": True}

    @app.get("/v2/models/{name}")
    def metadata(name: str) -> dict:
        return {"name": name}

    @app.post("/v2/models/{name}/infer")
    def infer(name: str) -> dict:
        return {"model_name": name}

    auth.install(app, token)
    auth.install(app, token)  # idempotent
    return TestClient(app)


def test_infer_needs_the_exact_token():
    client = app_with("s3cret")
    assert client.post("/v2/models/m/infer", json={}).status_code == 401
    wrong = client.post("/v2/models/m/infer", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    basic = client.post("/v2/models/m/infer", json={}, headers={"Authorization": "s3cret"})
    assert basic.status_code == 401
    ok = client.post("/v2/models/m/infer", json={}, headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert client.get("/v2/models/m").status_code == 401  # metadata is not a probe


def test_probes_need_no_token():
    client = app_with("s3cret")
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/m/ready").status_code == 200


def test_no_token_configured_means_no_check():
    client = app_with(None)
    assert client.post("/v2/models/m/infer", json={}).status_code == 200
