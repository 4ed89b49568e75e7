"""No secret value ever shows: a secured pipeline runs, and everything it printed is scanned.

The pipeline, all real processes: the SASL_SSL session broker (``kafka_secure``) with a SCRAM
user per role, a Redis that only a password opens, a predictor that requires a token (one
from ``CATMATCH_SERVE__TOKEN``, two from a Secret-like token directory) and reads the cache
through a password URL, and a worker process that logs in to Kafka with its password, sends
the token from its token file and caches in Redis. Every process logs at DEBUG with access
logs on. Then the outputs are collected: each process's log, ``catmatch status`` (as the
operator, and once with a wrong password so that the error path prints too), the ``/metrics``
bodies of predictor and worker, the ``--help`` of every command with every secret in the
environment, and the settings as Python prints and dumps them. None of it may hold a secret.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from core.settings import ENV_PREFIX, KafkaSettings
from resultcache.server import RedisServer
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.secure_harness import produce_as, wait_until
from toolbox.harness.children import child_env, scrape
from toolbox.harness.secret_volume import SecretVolume
from toolbox.harness.workers import WorkerProcess, wait_assigned
from transport.acls import PipelineNames
from transport.configuration import connection_config

pytestmark = pytest.mark.e2e

PRODUCTS = 60


class PasswordRedis(RedisServer):
    """Redis whose data only the user ``catmatch`` with ``password`` may touch (the default
    user may only PING, which the readiness check sends)."""

    def __init__(self, data_dir: Path, password: str) -> None:
        super().__init__(data_dir)
        self.password = password

    def command(self) -> list[str]:
        return [*super().command(),
                "--user", "default", "on", "nopass", "-@all", "+ping",
                "--user", "catmatch", "on", f">{self.password}", "~*", "&*", "+@all"]

    @property
    def secret_url(self) -> str:
        return f"redis://catmatch:{self.password}@{self.host}:{self.port}/0"


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    fields = {
        "BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "SECURITY_PROTOCOL": kafka.security_protocol,
        "SASL_MECHANISM": kafka.sasl_mechanism,
        "SASL_USERNAME": kafka.sasl_username,
        "SASL_PASSWORD": kafka.sasl_password.get_secret_value() if kafka.sasl_password else None,
        "SSL_CA_LOCATION": str(kafka.ssl_ca_location) if kafka.ssl_ca_location else None,
    }
    return {f"{ENV_PREFIX}KAFKA__{k}": str(v) for k, v in fields.items() if v is not None}


def run(command: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return f"$ {' '.join(command)} (exit {proc.returncode})\n{proc.stdout}\n{proc.stderr}"


def test_no_secret_appears_in_any_output(
    kafka_secure, secure_names: PipelineNames, predictor_factory, tiny_model_dir: Path,
    tmp_path: Path,
):
    names = secure_names
    worker_user = kafka_secure.user("worker")
    kafka_secure.grant("worker", worker_user, names)
    operator = kafka_secure.user("operator")
    kafka_secure.grant("operator", operator, names)
    assert worker_user.sasl_password is not None and operator.sasl_password is not None
    secret = {
        "worker's Kafka password": worker_user.sasl_password.get_secret_value(),
        "operator's Kafka password": operator.sasl_password.get_secret_value(),
        "wrong Kafka password": f"wrong-{secrets.token_urlsafe(12)}",
        "Redis password": f"redis-{secrets.token_urlsafe(12)}",
        "predictor token (environment)": f"env-{secrets.token_urlsafe(16)}",
        "predictor token (current)": f"cur-{secrets.token_urlsafe(16)}",
        "predictor token (next)": f"nxt-{secrets.token_urlsafe(16)}",
    }
    redis = PasswordRedis(tmp_path / "redis", secret["Redis password"]).start()
    try:
        tokens = SecretVolume(tmp_path / "predictor-tokens")
        tokens.write(current=secret["predictor token (current)"],
                     next=secret["predictor token (next)"])
        worker_token = SecretVolume(tmp_path / "worker-token")
        worker_token.write(token=secret["predictor token (current)"])
        common = {
            f"{ENV_PREFIX}CACHE__REDIS_URL": redis.secret_url,
            f"{ENV_PREFIX}SERVE__TOKEN": secret["predictor token (environment)"],
            f"{ENV_PREFIX}SERVE__TOKEN_FILE": str(tokens.root),
        }
        predictor = predictor_factory(
            env={**common, f"{ENV_PREFIX}CACHE__ENABLED": "true"},
            extra_args=["--access-log", "--log-level", "DEBUG"],
        )
        pipeline = {
            **common,
            f"{ENV_PREFIX}PREDICTOR__URL": predictor.url,
            f"{ENV_PREFIX}PREDICTOR__MODEL_NAME": predictor.model_name,
            f"{ENV_PREFIX}PREDICTOR__TOKEN_FILE": str(worker_token.key("token")),
            f"{ENV_PREFIX}TOPICS__INPUT": names.input,
            f"{ENV_PREFIX}TOPICS__OUTPUT": names.output,
            f"{ENV_PREFIX}TOPICS__DEAD_LETTER": names.dead_letter,
            f"{ENV_PREFIX}WORKER__GROUP_ID": names.group,
            f"{ENV_PREFIX}WORKER__TOKENIZER_PATH": str(tiny_model_dir / "tokenizer.json"),
        }
        worker_env = {**child_env(inherit_settings=False), **pipeline, **kafka_env(worker_user)}
        worker = WorkerProcess("worker", tmp_path / "worker.log", worker_env,
                               args=["--log-level", "DEBUG", "--instance-id", "worker-0"])
        worker.start()
        try:
            wait_assigned([worker])
            records = [(f"s-{i:03d}".encode(), json.dumps(
                {"product_id": f"s-{i:03d}", "title": f"Oak table {i % 7}"}).encode())
                for i in range(PRODUCTS)]
            assert produce_as(kafka_secure.admin(), names.input, records) == [""] * PRODUCTS
            out = consume_all(connection_config(kafka_secure.admin()), names.output,
                              expected=PRODUCTS, timeout=120)
            assert {CategoryResult.model_validate_json(m.value()).product_id for m in out} == {
                k.decode() for k, _ in records}
            metrics = {
                "worker /metrics": scrape(worker.metrics_url()),
                "predictor /metrics": scrape(f"{predictor.url}/metrics"),
            }
            # the worker really logged in, sent the token and used Redis
            assert 'credential="current"' in metrics["predictor /metrics"]
            wait_until(lambda: _redis_keys(redis) > 0, 10, "cache entries in Redis")
            outputs = _status_and_help(pipeline, operator, secret["wrong Kafka password"])
            outputs.update(metrics)
        finally:
            worker.stop()
        outputs["worker log"] = worker.log_tail(10**8)
        predictor.stop()
        outputs["predictor log"] = predictor.log_tail(10**8)
        outputs["redis log"] = redis.log_path.read_text(errors="replace")
    finally:
        redis.stop()

    # nothing vacuous: the logs are at DEBUG, every --help printed its usage
    assert " DEBUG " in outputs["worker log"] and " DEBUG " in outputs["predictor log"]
    assert all("usage:" in text for where, text in outputs.items() if "--help" in where)
    wrong_status = outputs["catmatch status (wrong password)"]
    leaks = [f"{what} in {where}" for where, text in outputs.items()
             for what, value in secret.items() if value in text]
    assert not leaks, leaks
    assert "(exit 0)" not in wrong_status.splitlines()[0], wrong_status


def _redis_keys(redis: PasswordRedis) -> int:
    import redis as redis_client

    return int(redis_client.Redis.from_url(redis.secret_url).dbsize())


def _status_and_help(
    pipeline: dict[str, str], operator: KafkaSettings, wrong_password: str
) -> dict[str, str]:
    """``catmatch status`` (right and wrong password), every ``--help``, the settings printed."""
    env = {**child_env(inherit_settings=False), **pipeline, **kafka_env(operator)}
    wrong = {**env, f"{ENV_PREFIX}KAFKA__SASL_PASSWORD": wrong_password}
    catmatch = [sys.executable, "-m", "catmatch"]
    status = [*catmatch, "status", "--json", "--interval", "0", "--timeout", "10"]
    outputs = {
        "catmatch status": run(status, env),
        "catmatch status (wrong password)": run(status, wrong),
        "settings printed": run([sys.executable, "-c",
                                 "from core.settings import load_settings; s = load_settings(); "
                                 "print(s); print(repr(s)); print(s.model_dump_json()); "
                                 "print(s.model_dump()); print(s.kafka, s.cache, s.serve)"], env),
    }
    for command in (["--help"], ["serve", "--help"], ["work", "--help"], ["status", "--help"],
                    ["drill", "run", "--help"], ["demo", "--help"]):
        outputs[f"catmatch {' '.join(command)}"] = run([*catmatch, *command], env)
    for module in ("worker", "predictor"):
        outputs[f"python -m {module} --help"] = run([sys.executable, "-m", module, "--help"], env)
    _check_status_ran(outputs["catmatch status"])
    return outputs


def _check_status_ran(text: str) -> None:
    """The operator's status reached the predictor with the token from the token file."""
    body = text.split("\n", 1)[1]
    report = json.loads(body[body.index("{"): body.rindex("}") + 1])
    assert report["predictor"]["state"] == "ready", text
