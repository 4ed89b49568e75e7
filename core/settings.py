"""One configuration tree for every command: defaults < YAML file < ``CATMATCH_*`` env vars.

Nested fields use ``__`` in env vars, e.g. ``CATMATCH_KAFKA__BOOTSTRAP_SERVERS=host:9092`` or
``CATMATCH_WORKER__BATCH_SIZE=128``. Dict fields take JSON, e.g.
``CATMATCH_KAFKA__CONFIG='{"socket.keepalive.enable": true}'``. librdkafka settings under
``kafka.config`` / ``worker.consumer_config`` / ``worker.producer_config`` pass through
unchanged. Secrets are :class:`~pydantic.SecretStr` and print as ``**********``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from core.errors import ConfigError
from core.names import DEFAULT_MODEL_NAME, DEFAULT_STORE_URI, RuntimeName
from core.token_files import read_credentials

ENV_PREFIX = "CATMATCH_"
RdkafkaValue = str | int | float | bool


SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"]


class KafkaSettings(BaseModel):
    """How to reach the cluster and who this client is. Defaults match ``catmatch broker``.

    Security: ``security_protocol`` SASL_SSL (or SASL_PLAINTEXT) with ``sasl_mechanism``,
    ``sasl_username`` and ``sasl_password``; TLS trusts ``ssl_ca_location`` (else the system
    store) and checks the broker's name unless ``ssl_endpoint_identification`` is off.
    :func:`transport.configuration.connection_config` checks that these fit together before
    any client is built.
    """

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: Path | None = Field(
        default=None,
        description="PEM file of the CA that signed the brokers' certificates (SSL, "
        "SASL_SSL); None: the system trust store.",
    )
    ssl_endpoint_identification: bool = Field(
        default=True,
        description="Check that a broker's certificate names the host connected to.",
    )
    ssl_certificate_location: Path | None = Field(
        default=None, description="This client's PEM certificate (mutual TLS only)."
    )
    ssl_key_location: Path | None = Field(
        default=None, description="This client's PEM private key (mutual TLS only)."
    )
    ssl_key_password: SecretStr | None = None
    client_id: str = "category-match"
    config: dict[str, RdkafkaValue] = Field(
        default_factory=dict, description="Extra librdkafka settings, dotted keys, verbatim."
    )

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def client_config(self) -> dict[str, Any]:
        """The connection part of every client's librdkafka configuration (bootstrap,
        security, ``config``); clients get it through :mod:`transport.configuration`."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
            "client.id": self.client_id,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.uses_tls:
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.ssl_endpoint_identification else "none"
            )
            tls_files = {
                "ssl.ca.location": self.ssl_ca_location,
                "ssl.certificate.location": self.ssl_certificate_location,
                "ssl.key.location": self.ssl_key_location,
            }
            conf.update({key: str(path) for key, path in tls_files.items() if path is not None})
            if self.ssl_key_password is not None:
                conf["ssl.key.password"] = self.ssl_key_password.get_secret_value()
        conf.update(self.config)
        return conf


class TopicSettings(BaseModel):
    """Topic names and how ``catmatch topics create`` makes them."""

    input: str = "category-match-in"
    output: str = "category-match-out"
    dead_letter: str = "category-match-dlq"
    partitions: int | None = Field(
        default=None, ge=1, description="Default: the number of workers (one per partition)."
    )
    replication_factor: int = Field(default=1, ge=1)
    config: dict[str, str] = Field(default_factory=dict, description="Topic configs, verbatim.")


class PredictorClientSettings(BaseModel):
    """How workers reach the KServe InferenceService."""

    url: str = "http://127.0.0.1:8080"
    model_name: str = "category-match"
    host_header: str | None = Field(
        default=None, description="Host header for Knative/Istio ingress (ksvc hostname)."
    )
    token: SecretStr | None = Field(default=None, description="Bearer token for the ISVC.")
    token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token (a mounted Secret key; first token of the "
        "file), read again within a second of a change. Instead of token.",
    )
    timeout_s: float = Field(default=30.0, gt=0)
    connect_timeout_s: float = Field(default=2.0, gt=0)
    backoff_initial_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=10.0, gt=0)
    server_error_attempts: int = Field(
        default=5,
        ge=1,
        description="Tries for a 5xx before the batch is split.",
    )
    max_connections: int = Field(default=8, ge=1)

    @model_validator(mode="after")
    def _one_token_source(self) -> PredictorClientSettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set predictor.token or predictor.token_file, not both")
        return self

    def bearer_token(self) -> str | None:
        """The token to send now: read from ``token_file`` (once), else ``token``."""
        if self.token_file is not None:
            return read_credentials(self.token_file)[0].secret
        return self.token.get_secret_value() if self.token is not None else None


class WorkerSettings(BaseModel):
    """The consume → tokenize → predict → produce loop."""

    workers: int = Field(default=2, ge=1, description="Worker processes (one per partition).")
    group_id: str = "category-match"
    static_membership: bool = Field(
        default=True, description="group.instance.id per worker: restarts skip the rebalance."
    )
    batch_size: int = Field(
        default=256, ge=1, le=4096,
        description="Largest batch (adaptive_batching: the size grows up to it).",
    )
    min_batch_size: int = Field(default=8, ge=1, le=4096)
    min_score: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="Results whose (calibrated) score is below this carry uncertain: true; "
        "they are still produced, and counted in catmatch_worker_uncertain_results_total.",
    )
    adaptive_batching: bool = Field(
        default=True,
        description="Grow the batch while the predictor answers within half of "
        "target_batch_seconds, shrink it when it takes longer than that.",
    )
    target_batch_seconds: float = Field(
        default=1.0, gt=0, description="Predictor latency per batch the size aims at."
    )
    predictor_concurrency: int = Field(
        default=1, ge=1,
        description="Batches the predictor works on at once (replicas x model instances). "
        "While fewer are in flight, a batch goes as soon as it holds one message; otherwise "
        "it fills until a slot frees, it is full, or batch_wait_ms has passed.",
    )
    batch_wait_ms: int = Field(
        default=250, ge=0,
        description="Longest wait to fill a batch while the predictor is busy; then it goes "
        "anyway (it queues at the predictor) if max_inflight_batches allows.",
    )
    max_inflight_batches: int = Field(
        default=4, ge=1, description="Batches in flight at most (full ones pipeline)."
    )
    pause_after_s: float = Field(
        default=5.0, ge=0, description="At capacity this long: pause partitions, keep polling."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        default="at_least_once",
        description="exactly_once: results, dead letters and input offsets are committed in "
        "one Kafka transaction (read the outputs with isolation.level=read_committed).",
    )
    transaction_timeout_s: float = Field(
        default=30.0, gt=0, description="Timeout of transactional calls (exactly_once)."
    )
    input_mode: Literal["tokens", "text"] = Field(
        default="tokens",
        description="tokens: tokenize with tokenizer_path and send INT64 ids (transformer "
        "predictor); text: send raw texts (sklearn predictor). With model_ref each store "
        "version decides (its runtime).",
    )
    tokenizer_path: Path = Path("var/models/seed/tokenizer.json")
    model_ref: str | None = Field(
        default=None,
        description="Take tokenizers from the model store (models.*) for this ref, e.g. "
        "production, and pin requests to their version (instead of tokenizer_path).",
    )
    max_length: int = Field(default=128, ge=8, le=512)
    max_message_bytes: int = Field(default=64 * 1024, ge=256)
    max_json_depth: int = Field(
        default=32, ge=2, le=1000, description="Deeper JSON is dead-lettered as too_deep."
    )
    max_output_bytes: int = Field(
        default=1_000_000,
        ge=16 * 1024,
        description="Largest record the worker produces; dead letters are shrunk to fit. "
        "Lowered at start to the output topics' max.message.bytes when readable.",
    )
    crash_loop_threshold: int = Field(
        default=3,
        ge=1,
        description="Failures of the worker on the same input offsets before those messages "
        "are dead-lettered as worker_crash.",
    )
    stall_timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="No batch finished and no commit for this long, with lag, assigned "
        "partitions and a ready predictor: the worker is stuck (liveness fails).",
    )
    top_k: int = Field(default=3, ge=1)
    commit_interval_ms: int = Field(default=200, ge=0)
    revoke_drain_timeout_s: float = Field(
        default=15.0, ge=0, description="How long a revoked partition's in-flight work may finish."
    )
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9400, ge=0, description="Worker i: port + i; 0 = any.")
    consumer_config: dict[str, RdkafkaValue] = Field(default_factory=dict)
    producer_config: dict[str, RdkafkaValue] = Field(default_factory=dict)


class ServeSettings(BaseModel):
    """The predictor process (``catmatch serve``)."""

    model_dir: Path = Path("var/models/seed")
    model_name: str = "category-match"
    runtime: RuntimeName = Field(
        default="auto",
        description="Model runtime; auto reads each model directory's catmatch.json.",
    )
    host: str = "127.0.0.1"
    http_port: int = 8080
    device: Literal["auto", "cpu", "cuda"] = "auto"
    max_length: int = Field(default=128, ge=8, le=512)
    top_k: int = Field(default=3, ge=1)
    max_batch_size: int = Field(default=1024, ge=1, description="Larger requests get HTTP 400.")
    model_ref: str | None = Field(
        default=None,
        description="Model-store ref to serve instead of model_dir: dev, ops/production, v<N>.",
    )
    poll_interval_s: float = Field(default=5.0, gt=0, description="Registry check interval.")
    token: SecretStr | None = Field(
        default=None,
        description="Bearer token every API call must carry (probes and /metrics exempt); "
        "the workers send predictor.token.",
    )
    token_file: Path | None = Field(
        default=None,
        description="More accepted bearer tokens: a file (one per line) or a directory of "
        "files (a mounted Secret, e.g. keys current and next), read again within a second of "
        "a change. Accepted with token when both are set.",
    )
    cache_size: int = Field(default=2, ge=1, description="Loaded versions kept, live included.")
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Larger request bodies get HTTP 413, refused before they are parsed.",
    )


class CacheSettings(BaseModel):
    """The result cache (:mod:`resultcache`) of the workers and the predictor's ``/predict``.

    Keys are (model name, model version, top-k, max length, normalised text): a model swap
    invalidates by construction. Hits skip the predictor (and the worker's tokenizer).
    """

    enabled: bool = True
    max_entries: int = Field(
        default=50_000, ge=0, description="In-process LRU entries per process; 0 = no LRU."
    )
    ttl_s: float = Field(
        default=3600.0,
        gt=0,
        description="Entry lifetime. Also bounds how long an unpinned worker (no model_ref) "
        "may answer from the previous version after a swap it has not yet seen.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Shared tier, e.g. redis://redis:6379/0 (may hold a password).",
    )
    redis_timeout_s: float = Field(
        default=0.1, gt=0, description="A slower Redis answer is a miss."
    )
    key_prefix: str = Field(default="catmatch", min_length=1)
    version_check_s: float = Field(
        default=2.0,
        gt=0,
        description="A worker whose batches are all hits still sends one product per this "
        "interval to the predictor, so that it notices a model swap; lookups wait for it.",
    )


class ModelStoreSettings(BaseModel):
    """Where versioned models live (``catmatch models``, ``catmatch train``)."""

    store_uri: str = DEFAULT_STORE_URI
    name: str = DEFAULT_MODEL_NAME


class BrokerSettings(BaseModel):
    """The embedded single-node Apache Kafka (``catmatch broker``)."""

    data_dir: Path = Path("var/kafka")
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    kafka_version: str = "4.1.0"
    jars_dir: Path = Field(
        default_factory=lambda: (
            Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "catmatch" / "kafka"
        ),
        description="Where the Kafka jars are resolved to (one folder per version).",
    )
    heap: str = "512m"
    partitions: int = Field(default=2, ge=1)
    security: Literal["none", "sasl_plaintext", "sasl_ssl"] = Field(
        default="none",
        description="none: one plaintext listener, anyone may do anything. sasl_ssl: TLS with "
        "a CA and certificate made in <data_dir>/security, SCRAM-SHA-512 logins, ACLs "
        "enforced (no ACL: denied) and one super user, admin; sasl_plaintext: the same "
        "without TLS.",
    )


class Settings(BaseSettings):
    """The whole configuration tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        yaml_file=None,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    predictor: PredictorClientSettings = Field(default_factory=PredictorClientSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    serve: ServeSettings = Field(default_factory=ServeSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    models: ModelStoreSettings = Field(default_factory=ModelStoreSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            YamlConfigSettingsSource(settings_cls),
            file_secret_settings,
        )

    def topic_partitions(self) -> int:
        """Partitions for the pipeline topics: configured, else one per worker."""
        return self.topics.partitions or self.worker.workers


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once at an entry point.

    Args:
        config: a YAML file; when ``None``, ``$CATMATCH_CONFIG`` if set.
        overrides: top-level sections that win over everything (used by tests and the CLI).
    """
    path = config or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if not path:
        return Settings(**overrides)
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(yaml_file=path)

    return _FileSettings(**overrides)
