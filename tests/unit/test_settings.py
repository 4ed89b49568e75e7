from pathlib import Path

import pytest

from core.errors import ConfigError
from core.settings import load_settings


def test_defaults_yaml_and_env_are_layered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = tmp_path / "catmatch.yaml"
    config.write_text(
        "kafka:\n  bootstrap_servers: yaml:9092\n  config:\n    socket.keepalive.enable: true\n"
        "worker:\n  batch_size: 32\n  workers: 4\n"
    )
    monkeypatch.setenv("CATMATCH_WORKER__BATCH_SIZE", "128")
    settings = load_settings(config)
    assert settings.kafka.bootstrap_servers == "yaml:9092"  # yaml over default
    assert settings.worker.batch_size == 128  # env over yaml
    assert settings.worker.workers == 4
    assert settings.topic_partitions() == 4  # one partition per worker by default
    assert settings.topics.input == "category-match-in"  # default
    assert settings.kafka.client_config()["socket.keepalive.enable"] is True  # passthrough


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CATMATCH_KAFKA__SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("CATMATCH_KAFKA__SASL_USERNAME", "svc")
    settings = load_settings()
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()
    assert settings.kafka.client_config()["sasl.password"] == "hunter2"


def test_missing_config_file_is_reported(tmp_path: Path):
    with pytest.raises(ConfigError, match="config file"):
        load_settings(tmp_path / "nope.yaml")


def test_the_shipped_example_config_loads():
    root = Path(__file__).resolve().parents[2]
    settings = load_settings(root / "deploy" / "config" / "example.yaml")
    assert settings.kafka.client_config()["socket.keepalive.enable"] is True
    assert settings.worker.batch_size == 256
