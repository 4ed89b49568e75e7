"""KServe V1: ``{"instances": ["text", ...]}`` → ``{"predictions": [...]}``.

Request (``instances`` items may also be ``{"text": "..."}``; a bare JSON list is taken as
the instances; ``parameters.top_k`` is optional)::

    {"instances": ["Stainless steel kettle 1.7 l"], "parameters": {"top_k": 3}}

Response::

    {"predictions": [{"label": "Base metals", "label_id": 14, "score": 0.91,
                      "top_k": [{"label": "Base metals", "label_id": 14, "score": 0.91}, ...]}],
     "model_name": "category-match", "model_version": "seed-1a2b3c4d"}

An sklearn classifier adds ``"probabilities"`` (every class, in label-id order) to each
prediction. A model on numeric features takes rows of numbers as instances
(``{"instances": [[5.1, 3.5, 1.4, 0.2]]}``); a regression model answers
``{"predictions": [2.5, ...]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kserve.errors import InvalidInput

from predictor.batches import TEXT_INPUT, ClassifyRequest, Limits, Prediction, Regression
from predictor.protocol.common import (
    check_batch_size,
    check_features,
    check_texts,
    parse_top_k,
)


def decode_v1(body: Any, limits: Limits) -> ClassifyRequest:
    """Decode a V1 body (already JSON-parsed by kserve) into texts or feature rows."""
    parameters = None
    if isinstance(body, dict):
        if "instances" not in body:
            raise InvalidInput('V1 request needs "instances": a list of texts')
        instances = body["instances"]
        parameters = body.get("parameters")
        if parameters is not None and not isinstance(parameters, dict):
            raise InvalidInput('"parameters" must be an object')
    elif isinstance(body, list):
        instances = body
    else:
        raise InvalidInput('V1 request must be a JSON object with "instances"')
    if not isinstance(instances, list):
        raise InvalidInput('"instances" must be a list')
    check_batch_size(len(instances), limits)
    top_k = parse_top_k(parameters, limits)
    if TEXT_INPUT not in limits.inputs:
        if not all(isinstance(row, list) for row in instances):
            raise InvalidInput("this model takes rows of numbers: instances must be lists")
        return ClassifyRequest(
            protocol="v1", top_k=top_k, features=check_features(instances, limits)
        )
    texts = check_texts([_instance_text(i, item) for i, item in enumerate(instances)])
    return ClassifyRequest(protocol="v1", top_k=top_k, texts=texts)


def _instance_text(index: int, item: Any) -> Any:
    if isinstance(item, dict):
        if "text" not in item:
            raise InvalidInput(f'instance {index} is an object without "text"')
        return item["text"]
    return item


def encode_v1(
    prediction: Prediction | Regression,
    labels: Sequence[str],
    model_name: str,
    model_version: str,
) -> dict[str, Any]:
    """Build the V1 response body."""
    head = {"model_name": model_name, "model_version": model_version}
    if isinstance(prediction, Regression):
        return {"predictions": prediction.values.tolist(), **head}
    label_ids = prediction.label_ids.tolist()
    scores = prediction.scores.tolist()
    top_ids = prediction.top_ids.tolist()
    top_scores = prediction.top_scores.tolist()
    predictions = [
        {
            "label": labels[label_ids[r]],
            "label_id": label_ids[r],
            "score": scores[r],
            "top_k": [
                {"label": labels[i], "label_id": i, "score": s}
                for i, s in zip(top_ids[r], top_scores[r], strict=True)
            ],
        }
        for r in range(len(label_ids))
    ]
    if prediction.probabilities is not None:
        for row, probs in zip(predictions, prediction.probabilities.tolist(), strict=True):
            row["probabilities"] = probs
    return {"predictions": predictions, **head}
