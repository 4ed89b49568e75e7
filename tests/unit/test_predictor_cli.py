"""Command lines: ``python -m predictor`` / ``catmatch serve`` parsing and ``catmatch model``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pytest

from catmatch.commands import model as model_command
from catmatch.commands import serve as serve_command
from core.settings import load_settings
from predictor.server import ShortInvalidInputLog, _settings_for, build_parser


def parse(*argv: str, settings=None) -> argparse.Namespace:
    return build_parser(settings or load_settings()).parse_args(list(argv))


def test_defaults_come_from_settings_and_grpc_is_off():
    ns = parse()
    serve = load_settings().serve
    assert ns.model_name == serve.model_name and ns.http_port == serve.http_port
    assert ns.host == serve.host == "127.0.0.1"
    assert ns.model_dir == serve.model_dir and ns.device == serve.device
    assert ns.top_k == serve.top_k and ns.max_length == serve.max_length
    assert ns.max_batch_size == 1024
    assert ns.enable_grpc is False and ns.enable_latency_logging is False
    assert ns.access_log is False


def test_settings_env_changes_defaults(monkeypatch):
    monkeypatch.setenv("CATMATCH_SERVE__HTTP_PORT", "9123")
    monkeypatch.setenv("CATMATCH_SERVE__MODEL_NAME", "from-env")
    ns = parse()
    assert ns.http_port == 9123 and ns.model_name == "from-env"


@pytest.mark.parametrize("flag", ["--http-port", "--http_port"])
def test_our_and_kserve_spellings_set_the_same_option(flag):
    assert parse(flag, "9001").http_port == 9001


def test_kserve_flags_pass_through():
    ns = parse(
        "--model_name",
        "m",
        "--enable_grpc",
        "true",
        "--workers",
        "2",
        "--model-dir",
        "/x",
        "--device",
        "cpu",
        "--access-log",
    )
    assert ns.model_name == "m" and ns.enable_grpc is True and ns.workers == 2
    assert ns.model_dir == Path("/x") and ns.device == "cpu" and ns.access_log


def test_no_prefix_abbreviations():
    with pytest.raises(SystemExit):
        parse("--model", "x")


def test_config_file_is_read_before_parsing(tmp_path: Path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("serve:\n  model_name: from-yaml\n  http_port: 9555\n")
    settings = _settings_for(["--config", str(cfg)], load_settings())
    ns = parse("--config", str(cfg), settings=settings)
    assert ns.model_name == "from-yaml" and ns.http_port == 9555


def test_catmatch_serve_passes_every_argument_through():
    parser = argparse.ArgumentParser(prog="catmatch")
    parser.add_argument("--config")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_command.register(sub)
    model_command.register(sub)
    args = parser.parse_args(["serve", "--model-dir", "d", "--enable_grpc", "false", "--help"])
    assert args.serve_args == ["--model-dir", "d", "--enable_grpc", "false", "--help"]
    assert args.func is serve_command.run
    args = parser.parse_args(["model", "tiny", "--out", "o", "--labels", "a,b"])
    assert args.func is model_command.run_tiny and args.labels == "a,b"


def test_invalid_input_log_becomes_one_warning_line():
    from kserve.errors import InvalidInput

    try:
        raise InvalidInput("bad shape")
    except InvalidInput as exc:
        record = logging.LogRecord(
            "kserve",
            logging.ERROR,
            __file__,
            1,
            "Exception:",
            (),
            (type(exc), exc, exc.__traceback__),
        )
    assert ShortInvalidInputLog().filter(record)
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "invalid request: bad shape"
    other = logging.LogRecord("kserve", logging.ERROR, __file__, 1, "boom", (), None)
    ShortInvalidInputLog().filter(other)
    assert other.levelno == logging.ERROR
