"""The predictor's bearer-token check: 401 without an accepted token, probes exempt, several
tokens at once (rotation), the token file re-read, counted by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from core.errors import ConfigError
from predictor import auth
from predictor.auth import AcceptedTokens


def app_with(tokens: AcceptedTokens | None) -> TestClient:
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

    auth.install(app, tokens)
    auth.install(app, tokens)  # idempotent
    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def accepted(name: str) -> float:
    value = REGISTRY.get_sample_value(
        "catmatch_predictor_auth_accepted_total", {"credential": name}
    )
    return value or 0.0


def test_infer_needs_the_exact_token():
    client = app_with(AcceptedTokens("s3cret"))
    assert client.post("/v2/models/m/infer", json={}).status_code == 401
    wrong = client.post("/v2/models/m/infer", json={}, headers=bearer("nope"))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    basic = client.post("/v2/models/m/infer", json={}, headers={"Authorization": "s3cret"})
    assert basic.status_code == 401
    prefix = client.post("/v2/models/m/infer", json={}, headers=bearer("s3cre"))
    assert prefix.status_code == 401
    ok = client.post("/v2/models/m/infer", json={}, headers=bearer("s3cret"))
    assert ok.status_code == 200
    assert client.get("/v2/models/m").status_code == 401  # metadata is not a probe


def test_probes_need_no_token():
    client = app_with(AcceptedTokens("s3cret"))
    assert client.get("/v2/health/ready").status_code == 200
    assert client.get("/v2/models/m/ready").status_code == 200


def test_no_token_configured_means_no_check():
    client = app_with(None)
    assert client.post("/v2/models/m/infer", json={}).status_code == 200


def test_an_empty_token_set_is_refused_at_start(tmp_path: Path):
    with pytest.raises(ConfigError):
        AcceptedTokens(None, None)
    with pytest.raises(ConfigError):
        AcceptedTokens(None, tmp_path / "absent")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError):
        AcceptedTokens("s3cret", tmp_path / "empty")


def test_every_token_of_the_file_and_the_environment_is_accepted_and_counted(tmp_path: Path):
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "current").write_text("cur-123\n")
    (keys / "next").write_text("nxt-456\n")
    client = app_with(AcceptedTokens("env-789", keys))
    before = {n: accepted(n) for n in ("current", "next", auth.ENV_CREDENTIAL)}
    for token in ("cur-123", "nxt-456", "env-789", "nxt-456"):
        assert client.post("/v2/models/m/infer", json={}, headers=bearer(token)).status_code == 200
    assert accepted("current") - before["current"] == 1
    assert accepted("next") - before["next"] == 2
    assert accepted(auth.ENV_CREDENTIAL) - before[auth.ENV_CREDENTIAL] == 1
    assert "cur-123" not in repr(client.app.user_middleware)  # type: ignore[attr-defined]


def test_a_rotation_through_the_file_refuses_nothing_in_between(tmp_path: Path):
    path = tmp_path / "tokens"
    path.write_text("old\n")
    tokens = AcceptedTokens(None, path, check_interval_s=0.0)
    client = app_with(tokens)

    def status(token: str) -> int:
        return client.post("/v2/models/m/infer", json={}, headers=bearer(token)).status_code

    assert (status("old"), status("new")) == (200, 401)
    path.write_text("old\nnew\n")  # 1. add the next token
    assert (status("old"), status("new")) == (200, 200)
    path.write_text("new\n")  # 3. remove the old one (after 2., the callers switched)
    assert (status("old"), status("new")) == (401, 200)
    path.write_text("")  # emptied by mistake: the last good set stays
    assert status("new") == 200
