"""Open Inference Protocol (KServe V2) for both runtimes.

Inputs, one of (what the loaded model accepts, see ``Limits.inputs``):

- ``text``: BYTES ``[B]`` (or ``[B, 1]``), UTF-8 texts (the transformer tokenizes them; the
  sklearn runtime passes them to a text pipeline).
- ``input_ids`` and ``attention_mask`` (optional ``token_type_ids``): INT64 ``[B, L]``,
  already tokenized by the client with the model's ``tokenizer.json`` (transformer only;
  what workers send to it).
- ``features``: FP32/FP64/INT ``[B, F]`` numbers (an sklearn estimator on numeric features).

Optional request parameter ``top_k`` (int). Classification outputs (the worker's contract)::

    label BYTES [B]   label_id INT64 [B]   score FP32 [B]   (probability of the arg-max)
    top_k_label BYTES [B, K]   top_k_label_id INT64 [B, K]   top_k_score FP32 [B, K]
    probabilities FP32 [B, C]   (sklearn runtime: every class, in label-id order)

Regression output: ``prediction`` FP32 ``[B]`` (``[B, T]`` for T targets). A request may list
the ``outputs`` it wants; others are left out. The response echoes the request ``id`` and
carries ``model_name`` and ``model_version``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from math import prod
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferOutput, InferRequest, InferResponse

from predictor.batches import (
    FEATURE_INPUT,
    TEXT_INPUT,
    TOKEN_INPUT,
    ClassifyRequest,
    Limits,
    Prediction,
    Regression,
    TokenizedBatch,
)
from predictor.protocol.common import (
    check_batch_size,
    check_features,
    check_texts,
    label_array,
    parse_top_k,
)

TEXT = "text"
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
TOKEN_TYPE_IDS = "token_type_ids"  # noqa: S105 - a tensor name, not a secret
FEATURES = "features"
PROBABILITIES = "probabilities"
PREDICTION = "prediction"
_ID_INPUTS = {INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS}
_INT_TYPES = {"INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
_NUMBER_TYPES = _INT_TYPES | {"FP16", "FP32", "FP64"}

_TEXT_SPEC = {"name": TEXT, "datatype": "BYTES", "shape": [-1]}
_TOKEN_SPECS = [
    {"name": name, "datatype": "INT64", "shape": [-1, -1]}
    for name in (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS)
]
INPUT_SPECS: list[dict[str, Any]] = [_TEXT_SPEC, *_TOKEN_SPECS]  # the transformer's
OUTPUT_SPECS: list[dict[str, Any]] = [
    {"name": "label", "datatype": "BYTES", "shape": [-1]},
    {"name": "label_id", "datatype": "INT64", "shape": [-1]},
    {"name": "score", "datatype": "FP32", "shape": [-1]},
    {"name": "top_k_label", "datatype": "BYTES", "shape": [-1, -1]},
    {"name": "top_k_label_id", "datatype": "INT64", "shape": [-1, -1]},
    {"name": "top_k_score", "datatype": "FP32", "shape": [-1, -1]},
]
_EXPECTED = {
    TEXT_INPUT: f"{TEXT!r} (BYTES [B])",
    TOKEN_INPUT: f"{INPUT_IDS!r} + {ATTENTION_MASK!r} (+ optional {TOKEN_TYPE_IDS!r}) "
    "(INT64 [B, L])",
    FEATURE_INPUT: f"{FEATURES!r} (FP32/FP64/INT [B, F])",
}


def input_specs(limits: Limits) -> list[dict[str, Any]]:
    """The V2 model-metadata inputs of a model with ``limits``."""
    specs: list[dict[str, Any]] = []
    if TEXT_INPUT in limits.inputs:
        specs.append(dict(_TEXT_SPEC))
    if TOKEN_INPUT in limits.inputs:
        specs.extend(dict(s) for s in _TOKEN_SPECS)
    if FEATURE_INPUT in limits.inputs:
        specs.append({"name": FEATURES, "datatype": "FP64",
                      "shape": [-1, limits.num_features or -1]})
    return specs


def output_specs(limits: Limits) -> list[dict[str, Any]]:
    """The V2 model-metadata outputs: the label set for classifiers, ``prediction`` else."""
    if limits.task == "regression":
        return [{"name": PREDICTION, "datatype": "FP32", "shape": [-1]}]
    specs = [dict(s) for s in OUTPUT_SPECS]
    if limits.probabilities:
        specs.append({"name": PROBABILITIES, "datatype": "FP32", "shape": [-1, limits.num_labels]})
    return specs


def decode_v2(request: InferRequest, limits: Limits) -> ClassifyRequest:
    """Validate a V2 request and decode it into texts, token ids or features."""
    inputs: dict[str, InferInput] = {}
    for inp in request.inputs or []:
        if inp.name in inputs:
            raise InvalidInput(f"input {inp.name!r} appears twice")
        inputs[inp.name] = inp
    known = sorted(spec["name"] for spec in output_specs(limits))
    for out in request.request_outputs or []:
        if out.name not in known:
            raise InvalidInput(f"unknown output {out.name!r}; outputs are {known}")
    top_k = parse_top_k(request.parameters, limits)
    names = set(inputs)
    common = {"protocol": "v2", "top_k": top_k, "request_id": request.id, "source": request}
    accepts = limits.inputs
    if names == {TEXT} and TEXT_INPUT in accepts:
        return ClassifyRequest(texts=_decode_texts(inputs[TEXT], limits), **common)
    if {INPUT_IDS, ATTENTION_MASK} <= names <= _ID_INPUTS and TOKEN_INPUT in accepts:
        return ClassifyRequest(tokens=_decode_ids(inputs, limits), **common)
    if names == {FEATURES} and FEATURE_INPUT in accepts:
        return ClassifyRequest(features=_decode_features(inputs[FEATURES], limits), **common)
    expected = " or ".join(_EXPECTED[kind] for kind in sorted(accepts))
    raise InvalidInput(f"this model takes input {expected}; got {sorted(names)}")


def _decode_texts(inp: InferInput, limits: Limits) -> list[str]:
    if inp.datatype != "BYTES":
        raise InvalidInput(f"input {TEXT!r} must be BYTES, got {inp.datatype}")
    shape = _shape(inp)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise InvalidInput(f"input {TEXT!r} must have shape [B] or [B, 1], got {shape}")
    check_batch_size(shape[0], limits)
    array = _tensor(inp, shape)
    return check_texts(array.reshape(-1).tolist())


def _decode_ids(inputs: dict[str, InferInput], limits: Limits) -> TokenizedBatch:
    arrays: dict[str, np.ndarray] = {}
    expected: list[int] | None = None
    for name in (INPUT_IDS, ATTENTION_MASK, TOKEN_TYPE_IDS):
        if name not in inputs:
            continue
        inp = inputs[name]
        if inp.datatype not in _INT_TYPES:
            raise InvalidInput(f"input {name!r} must be INT64, got {inp.datatype}")
        shape = _shape(inp)
        if len(shape) != 2:
            raise InvalidInput(f"input {name!r} must have shape [B, L], got {shape}")
        if expected is not None and shape != expected:
            raise InvalidInput(f"input {name!r} has shape {shape}, {INPUT_IDS!r} has {expected}")
        expected = shape
        array = _tensor(inp, shape)
        if array.dtype.kind not in "iu":
            raise InvalidInput(f"input {name!r} must hold integers")
        arrays[name] = array.astype(np.int64, copy=False)
    assert expected is not None
    rows, length = expected
    check_batch_size(rows, limits)
    if not 1 <= length <= limits.max_positions:
        raise InvalidInput(f"sequence length {length} must be 1..{limits.max_positions}")
    _check_range(arrays[INPUT_IDS], INPUT_IDS, limits.vocab_size)
    mask = arrays[ATTENTION_MASK]
    _check_range(mask, ATTENTION_MASK, 2)
    if not mask.any(axis=1).all():
        raise InvalidInput(f"every row needs at least one token with {ATTENTION_MASK} 1")
    if TOKEN_TYPE_IDS in arrays:
        _check_range(arrays[TOKEN_TYPE_IDS], TOKEN_TYPE_IDS, limits.type_vocab_size)
    return TokenizedBatch(
        input_ids=np.ascontiguousarray(arrays[INPUT_IDS]),
        attention_mask=np.ascontiguousarray(mask),
        token_type_ids=arrays.get(TOKEN_TYPE_IDS),
    )


def _decode_features(inp: InferInput, limits: Limits) -> np.ndarray:
    if inp.datatype not in _NUMBER_TYPES:
        raise InvalidInput(f"input {FEATURES!r} must be numeric, got {inp.datatype}")
    shape = _shape(inp)
    if len(shape) != 2:
        raise InvalidInput(f"input {FEATURES!r} must have shape [B, F], got {shape}")
    check_batch_size(shape[0], limits)
    return check_features(_tensor(inp, shape), limits)


def _shape(inp: InferInput) -> list[int]:
    shape = list(inp.shape or [])
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in shape):
        raise InvalidInput(f"input {inp.name!r} has an invalid shape {shape}")
    return shape


def _tensor(inp: InferInput, shape: list[int]) -> np.ndarray:
    """The input's data as a numpy array of ``shape``, without silent float → int casts."""
    try:
        if inp.data is None:  # binary tensor data (REST binary extension or gRPC raw)
            return np.asarray(inp.as_numpy())
        if inp.datatype == "BYTES":
            array = np.empty(len(inp.data), dtype=object) if _is_flat(inp.data) else None
            if array is not None:
                array[:] = inp.data
            else:
                array = np.asarray(inp.data, dtype=object)
        else:
            array = np.asarray(inp.data)
        if array.size != prod(shape):
            raise InvalidInput(
                f"input {inp.name!r} has {array.size} values, shape {shape} needs {prod(shape)}"
            )
        return array.reshape(shape)
    except InvalidInput:
        raise
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(
            f"input {inp.name!r} could not be read as shape {shape}: {exc}"
        ) from None


def _is_flat(data: Any) -> bool:
    return isinstance(data, list) and not any(isinstance(x, list) for x in data)


def _check_range(array: np.ndarray, name: str, upper: int) -> None:
    if array.size and (int(array.min()) < 0 or int(array.max()) >= upper):
        raise InvalidInput(
            f"input {name!r} values must be in [0, {upper}); got [{array.min()}, {array.max()}]"
        )


def _tensors(
    prediction: Prediction | Regression, labels: Sequence[str]
) -> list[tuple[str, str, np.ndarray]]:
    if isinstance(prediction, Regression):
        return [(PREDICTION, "FP32", prediction.values.astype(np.float32, copy=False))]
    names = label_array(labels)
    rows, k = prediction.top_ids.shape
    tensors: list[tuple[str, str, np.ndarray]] = [
        ("label", "BYTES", names[prediction.label_ids]),
        ("label_id", "INT64", prediction.label_ids.astype(np.int64, copy=False)),
        ("score", "FP32", prediction.scores.astype(np.float32, copy=False)),
        ("top_k_label", "BYTES", names[prediction.top_ids].reshape(rows, k)),
        ("top_k_label_id", "INT64", prediction.top_ids.astype(np.int64, copy=False)),
        ("top_k_score", "FP32", prediction.top_scores.astype(np.float32, copy=False)),
    ]
    if prediction.probabilities is not None:
        tensors.append(
            (PROBABILITIES, "FP32", prediction.probabilities.astype(np.float32, copy=False))
        )
    return tensors


def encode_v2(
    request: ClassifyRequest,
    prediction: Prediction | Regression,
    labels: Sequence[str],
    model_name: str,
    model_version: str,
    live_version: str | None = None,
) -> InferResponse:
    """Build the V2 response for ``request``.

    ``live_version`` (a response parameter) tells a client that pinned an older, still
    cached version which version is live now, so it can move to that version's tokenizer.
    """
    tensors = _tensors(prediction, labels)
    source = request.source if isinstance(request.source, InferRequest) else None
    from_grpc = bool(source is not None and source.from_grpc)
    outputs = []
    for name, datatype, array in tensors:
        output = InferOutput(name=name, shape=list(array.shape), datatype=datatype, data=array)
        if from_grpc:  # gRPC needs the values in typed contents, not a numpy array
            output.set_data_from_numpy(array, binary_data=False)
        outputs.append(output)
    return InferResponse(
        response_id=request.request_id or uuid.uuid4().hex,
        model_name=model_name,
        infer_outputs=outputs,
        model_version=model_version,
        from_grpc=from_grpc,
        parameters={"live_version": live_version} if live_version else None,
        use_binary_outputs=bool(source is not None and source.use_binary_outputs),
        requested_outputs=source.request_outputs if source is not None else None,
    )
