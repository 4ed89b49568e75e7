"""The pieces of ``catmatch demo``: which model it serves, and what it reads back.

The demo runs on the process harness (:class:`~toolbox.harness.stack.Stack`); the command
tells the story, these functions do the work that is not printing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from core.modelformat import read_metadata
from core.names import LATEST
from core.settings import Settings
from modelstore import ModelStore, StoreError
from toolbox.errors import InvalidRequest
from toolbox.harness.children import ChildProcess, scrape
from toolbox.models import DEMO_MODEL_DIR, ensure_demo_model, ensure_seed_model
from toolbox.produce.sender import produce_products
from toolbox.readers import iter_messages
from training.generator import generate_products

SEED_REF = "seed"
DEMO_REF = "demo"
MALFORMED = [
    b"this is not json",
    b'{"product_id": "bad-1"}',
    b'{"product_id": "bad-2", "title": "   "}',
    b'{"product_id": "bad-3", "title": "Kettle", "price": -5}',
    b"[1, 2, 3]",
]
AGAIN = "again-"
CACHE_LOOKUPS = "catmatch_worker_cache_lookups_total"


@dataclass(frozen=True)
class ServedModel:
    """What the demo serves: a model directory, or a version of the model store."""

    what: str  # how the demo names it
    model_dir: Path | None = None
    predictor_args: tuple[str, ...] = ()
    worker_env: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # its card's or registry's figures


def choose_model(
    settings: Settings,
    model_ref: str,
    store_uri: str | None,
    store_name: str | None,
    announce: Callable[[str], None],
) -> ServedModel:
    """The store's ``model_ref`` when the store has the model, else the demo TF-IDF model
    (built offline first if missing); ``model_ref`` ``seed`` always serves the seed model,
    ``demo`` the demo model.

    Raises:
        InvalidRequest: a store, name or ref was asked for explicitly and cannot be served.
    """
    if model_ref not in (SEED_REF, DEMO_REF):
        uri = store_uri or settings.models.store_uri
        name = store_name or settings.models.name
        try:
            store = ModelStore.from_uri(uri)
            version = str(store.resolve(name, model_ref).version)
        except (StoreError, OSError) as exc:
            if store_uri or store_name or model_ref != LATEST:
                raise InvalidRequest(f"cannot serve {name} {model_ref} from {uri}: {exc}") from None
        else:
            where = str(store.uri)
            return ServedModel(
                what=f"{name} {version} from the model store {where}",
                predictor_args=("--store", where, "--store-name", name, "--model-ref", version),
                worker_env={
                    "CATMATCH_MODELS__STORE_URI": where,
                    "CATMATCH_MODELS__NAME": name,
                    "CATMATCH_WORKER__MODEL_REF": version,
                },
                metrics=dict(store.resolve(name, version).metrics),
            )
    if model_ref != SEED_REF:
        model_dir = ensure_demo_model(DEMO_MODEL_DIR, announce)
        return ServedModel(
            what=f"the demo TF-IDF model ({model_dir}, sklearn runtime)",
            model_dir=model_dir,
            worker_env={"CATMATCH_WORKER__INPUT_MODE": "text"},
            metrics=card_metrics(model_dir),
        )
    model_dir = ensure_seed_model(settings.serve.model_dir, announce)
    return ServedModel(
        what=f"the seed model ({model_dir})",
        model_dir=model_dir,
        worker_env={"CATMATCH_WORKER__TOKENIZER_PATH": str(model_dir / "tokenizer.json")},
    )


def card_metrics(model_dir: Path) -> dict[str, Any]:
    """The ``metrics`` of a model directory's ``catmatch.json`` ({} without one)."""
    card = read_metadata(model_dir)
    return dict(card.metrics) if card is not None else {}


def accuracy_note(metrics: dict[str, Any]) -> str:
    """What the served model scores on the hand-written titles, as the demo states it."""
    parts = [
        f"{label} {metrics[key]:.1%}"
        for key, label in (("handwritten_accuracy", "English"), ("korean_accuracy", "Korean"))
        if isinstance(metrics.get(key), int | float)
    ]
    if not parts:
        return "its accuracy on hand-written shop titles is not recorded"
    return "right on " + " and ".join(parts) + " of the hand-written shop titles (never trained on)"


def read_results(
    settings: Settings, idle_timeout: float, workers: ChildProcess
) -> Iterator[tuple[dict[str, Any], bool]]:
    """The results on the output topic from its beginning, each with whether it is the
    first of its product, until ``idle_timeout`` seconds pass without one.

    Raises:
        HarnessError: the workers exited.
    """
    seen: set[str] = set()
    stream = iter_messages(
        settings, settings.topics.output, from_beginning=True, idle_timeout=idle_timeout
    )
    with closing(stream):
        for msg in stream:
            result = msg.json()
            first = result["product_id"] not in seen
            seen.add(result["product_id"])
            yield result, first
            workers.check()


def send_again(settings: Settings, count: int, seed: int, idle_timeout: float,
               workers: ChildProcess) -> int:
    """Send the first ``count`` generated products again under new ids (``again-<id>``);
    returns how many of them got a result before ``idle_timeout`` idle seconds."""
    again = []
    for product in generate_products(count, seed):
        message = dict(product.message, product_id=f"{AGAIN}{product.message['product_id']}")
        again.append(json.dumps(message).encode())
    produce_products(settings, again, raw=True)
    labelled: set[str] = set()
    for result, _ in read_results(settings, idle_timeout, workers):
        if result["product_id"].startswith(AGAIN):
            labelled.add(result["product_id"])
        if len(labelled) == count:
            break
    return len(labelled)


def cache_lookups(metrics_urls: list[str]) -> dict[str, float]:
    """``catmatch_worker_cache_lookups_total`` per result, summed over the workers."""
    totals: dict[str, float] = {}
    for url in metrics_urls:
        for family in text_string_to_metric_families(scrape(url)):
            for sample in family.samples:
                if sample.name == CACHE_LOOKUPS:
                    result = sample.labels["result"]
                    totals[result] = totals.get(result, 0.0) + sample.value
    return totals


def titles(count: int, seed: int) -> dict[str, str]:
    """The generator's titles by product id."""
    return {
        str(p.message["product_id"]): str(p.message["title"])
        for p in generate_products(count, seed)
    }
