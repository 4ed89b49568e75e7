"""Start the predictor on KServe's own ``ModelServer``: ``python -m predictor``, ``catmatch serve``.

The command line is KServe's parser (``--http_port``, ``--workers``, ``--enable_grpc``, ...)
extended with ours (``--model-dir``, ``--model-name``, ``--http-port``, ``--host``,
``--device``, ...); defaults come from ``settings.serve``. Differences from a plain
``ModelServer``, all deliberate:

- REST listens on ``--host`` (``settings.serve.host``, 127.0.0.1 by default); kserve 0.21
  hard-codes ``0.0.0.0``. Containers set ``CATMATCH_SERVE__HOST=0.0.0.0``.
- gRPC is off unless ``--enable_grpc true`` (kserve then binds it on ``[::]``).
- Per-request log lines (uvicorn access log, kserve latency lines) are off unless
  ``--access-log``.

Two ways to say what to serve: ``--model-dir DIR`` (a plain model directory, the default) or
``--model-ref REF`` with ``--store URI`` (a model-store version; an alias such as ``dev`` or
``production`` is followed with background loads and atomic swaps, see ``predictor.live``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from core.names import RUNTIME_CHOICES
from core.settings import CacheSettings, Settings, load_settings
from predictor.auth import AcceptedTokens
from predictor.errors import PredictorError
from predictor.store_source import StoreSource

if TYPE_CHECKING:
    from predictor.model import CategoryModel

log = logging.getLogger(__name__)

_PER_REQUEST_LOGGERS = ("uvicorn.access", "kserve.trace")


def _import_model_server() -> Any:
    """Import ``kserve.model_server`` without letting it parse our command line.

    kserve parses ``sys.argv`` at import (with prefix matching, so ``--config`` would be read
    as its ``--configure_logging``); we parse the real arguments ourselves afterwards.
    """
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        from kserve import model_server
    finally:
        sys.argv = saved
    return model_server


def build_parser(settings: Settings, prog: str | None = None) -> argparse.ArgumentParser:
    """KServe's ``ModelServer`` parser plus the predictor's own options."""
    model_server = _import_model_server()
    serve = settings.serve
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the category classifier with kserve.ModelServer (REST V1 + V2).",
        parents=[model_server.parser],
        allow_abbrev=False,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    own = parser.add_argument_group("category-match")
    own.add_argument("--config", help="YAML settings file (default: $CATMATCH_CONFIG)")
    own.add_argument("--log-level", help="root log level: DEBUG, INFO, WARNING, ERROR")
    own.add_argument("--model-dir", type=Path, default=serve.model_dir,
                     help="model directory: Hugging Face files (config.json, weights, "
                     "tokenizer.json), an ONNX export (model.onnx, tokenizer.json) or a "
                     "joblib scikit-learn model")
    own.add_argument("--runtime", choices=RUNTIME_CHOICES,
                     default=serve.runtime,
                     help="model runtime: a transformer classifier on torch or exported to "
                     "ONNX (onnxruntime, CPU), or a joblib scikit-learn estimator (auto: from "
                     "each model directory's catmatch.json, else its files)")
    own.add_argument("--model-name", dest="model_name", help="alias of --model_name")
    own.add_argument("--http-port", dest="http_port", type=int, help="alias of --http_port")
    own.add_argument("--host", default=serve.host, help="address the REST server binds")
    own.add_argument("--device", choices=("auto", "cpu", "cuda"), default=serve.device)
    own.add_argument("--max-length", type=int, default=serve.max_length,
                     help="truncation length for texts the predictor tokenizes")
    own.add_argument("--top-k", type=int, default=serve.top_k, help="default top_k")
    own.add_argument("--max-batch-size", type=int,
                     default=serve.max_batch_size,
                     help="larger requests are rejected with HTTP 400")
    own.add_argument("--token-file", type=Path, default=serve.token_file,
                     help="accepted bearer tokens: a file (one per line) or a directory of "
                     "files (a mounted Secret), read again when it changes; with "
                     "serve.token (environment) both are accepted")
    own.add_argument("--max-body-bytes", type=int, default=serve.max_body_bytes,
                     help="larger request bodies are refused with HTTP 413 before parsing")
    own.add_argument("--access-log", action="store_true",
                     help="log every request (uvicorn access log and kserve latency lines)")
    store_uri, store_name = settings.models.store_uri, settings.models.name
    store = parser.add_argument_group("model store")
    store.add_argument("--model-ref", default=serve.model_ref,
                       help="serve a model-store version instead of --model-dir: an alias "
                       "(dev, ops/production, latest: followed with hot swaps) or v<N>")
    store.add_argument("--store", default=store_uri, help="model store URI (with --model-ref)")
    store.add_argument("--store-name", default=store_name,
                       help="model name in the store (with --model-ref)")
    store.add_argument("--poll-interval", type=float,
                       default=serve.poll_interval_s,
                       help="seconds between registry checks when --model-ref is an alias")
    store.add_argument("--cache-size", type=int,
                       default=serve.cache_size,
                       help="loaded versions kept in memory (the live one included)")
    # Note: the parent's actions are shared objects, so these also change kserve's defaults.
    parser.set_defaults(
        model_name=serve.model_name,
        http_port=serve.http_port,
        enable_grpc=False,
        enable_latency_logging=False,
    )
    return parser


def _settings_for(argv: Sequence[str], settings: Settings | None) -> Settings:
    """Settings from ``--config`` when given, else the ones passed in (or the default tree)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(list(argv))
    if known.config or settings is None:
        return load_settings(known.config)
    return settings


def main(
    argv: Sequence[str] | None = None, settings: Settings | None = None, prog: str | None = None
) -> int:
    """Parse arguments, load the model, and serve until SIGTERM/SIGINT. Returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    settings = _settings_for(argv, settings)
    ns = build_parser(settings, prog).parse_args(argv)
    _configure_logging(ns.log_level)
    if ns.access_log:
        ns.enable_latency_logging = True
    if min(ns.max_batch_size, ns.top_k, ns.max_length, ns.max_body_bytes) < 1:
        raise PredictorError(
            "--max-batch-size, --top-k, --max-length and --max-body-bytes must be positive"
        )
    if ns.cache_size < 1 or not ns.poll_interval > 0:
        raise PredictorError("--cache-size and --poll-interval must be positive")
    if ns.workers > 1:
        # Each uvicorn worker process runs its own torch; one OpenMP thread each.
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    tokens = _accepted_tokens(settings.serve.token, ns.token_file)
    model = _load_model(ns)
    return _serve(
        ns,
        model,
        tokens=tokens,
        cache_settings=settings.cache if settings.cache.enabled else None,
    )


def _accepted_tokens(token: SecretStr | None, token_file: Path | None) -> AcceptedTokens | None:
    """The tokens a request may carry (``None``: no check); a token file that cannot be read
    stops the start (:class:`~core.errors.ConfigError`)."""
    if token is None and token_file is None:
        return None
    tokens = AcceptedTokens(token.get_secret_value() if token is not None else None, token_file)
    log.info("bearer token required; accepted: %s",
             ", ".join(c.name for c in tokens.credentials()))
    return tokens


def _load_model(ns: argparse.Namespace) -> CategoryModel:
    from predictor.model import CategoryModel  # imports kserve and torch: only when serving

    options = {
        "device": ns.device,
        "max_length": ns.max_length,
        "top_k": ns.top_k,
        "max_batch_size": ns.max_batch_size,
        "runtime": ns.runtime,
    }
    if ns.model_ref:
        source = StoreSource.from_uri(ns.store, ns.store_name, ns.model_ref)
        model = CategoryModel(
            ns.model_name,
            source=source,
            cache_size=ns.cache_size,
            poll_interval_s=ns.poll_interval,
            **options,
        )
        where = f"{ns.store_name} {ns.model_ref} from the store {ns.store}"
    else:
        model = CategoryModel(ns.model_name, ns.model_dir, **options)
        where = str(ns.model_dir)
    try:
        model.load()
    except (OSError, ValueError, RuntimeError) as exc:
        raise PredictorError(f"cannot load model {where}: {exc}") from exc
    return model


def _serve(
    ns: argparse.Namespace,
    model: CategoryModel,
    *,
    tokens: AcceptedTokens | None,
    cache_settings: CacheSettings | None,
) -> int:
    """Serve ``model`` with kserve until SIGTERM/SIGINT; the server installs our routes
    (token check, version pinning, ``POST /predict``) in whichever process serves HTTP."""
    from predictor.loopback import LoopbackModelServer

    model_server = _import_model_server()
    # ModelServer reads some options straight from kserve's import-time namespace.
    for key, value in vars(ns).items():
        if hasattr(model_server.args, key):
            setattr(model_server.args, key, value)
    # Children of ModelServer(workers=N) re-import kserve, which re-parses sys.argv.
    sys.argv = sys.argv[:1]
    server = LoopbackModelServer(
        host=ns.host,
        tokens=tokens,
        cache_settings=cache_settings,
        max_body_bytes=ns.max_body_bytes,
        http_port=ns.http_port,
        grpc_port=ns.grpc_port,
        workers=ns.workers,
        max_threads=ns.max_threads,
        max_asyncio_workers=ns.max_asyncio_workers,
        enable_grpc=ns.enable_grpc,
        enable_docs_url=ns.enable_docs_url,
        enable_latency_logging=ns.enable_latency_logging,
        access_log_format=ns.access_log_format,
        event_loop=ns.event_loop,
        timeout_keep_alive=ns.timeout_keep_alive,
        ssl_certfile=ns.ssl_certfile,
        ssl_keyfile=ns.ssl_keyfile,
    )
    if not ns.access_log:
        for name in _PER_REQUEST_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("kserve").addFilter(ShortInvalidInputLog())
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")
    log.info(
        "serving model %r version %s on http://%s:%d (gRPC %s)",
        model.name, model.model_version, ns.host, ns.http_port,
        f"on port {ns.grpc_port}" if ns.enable_grpc else "off",
    )
    if ns.workers == 1 and model.watch():
        log.info(
            "following %s %s in %s (poll every %g s, cache %d versions)",
            ns.store_name, ns.model_ref, ns.store, ns.poll_interval, ns.cache_size,
        )
    try:
        server.start([model])
    finally:
        model.stop()
    log.info("predictor stopped")
    return 0


class ShortInvalidInputLog(logging.Filter):
    """kserve logs every HTTP 400 as an ERROR with a traceback; make it one WARNING line."""

    def filter(self, record: logging.LogRecord) -> bool:
        from kserve.errors import InvalidInput

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, InvalidInput):
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg, record.args, record.exc_info = "invalid request: %s", (exc,), None
        return True


def _configure_logging(level: str | None) -> None:
    logging.basicConfig(
        level=(level or "INFO").upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    if level:
        logging.getLogger().setLevel(level.upper())
