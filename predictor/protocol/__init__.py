"""Request decoding and response encoding for KServe's two REST protocols.

- V1: ``POST /v1/models/{name}:predict`` with ``{"instances": [...]}``
  (:mod:`predictor.protocol.v1`).
- V2 / Open Inference Protocol: ``POST /v2/models/{name}/infer`` with a BYTES ``text`` input,
  INT64 ``input_ids``/``attention_mask`` or FP ``features`` (:mod:`predictor.protocol.v2`).

Malformed requests raise ``kserve.errors.InvalidInput`` (HTTP 400), never anything that
would surface as a 500.
"""

from predictor.protocol.v1 import decode_v1, encode_v1
from predictor.protocol.v2 import (
    INPUT_SPECS,
    OUTPUT_SPECS,
    decode_v2,
    encode_v2,
    input_specs,
    output_specs,
)

__all__ = [
    "INPUT_SPECS",
    "OUTPUT_SPECS",
    "decode_v1",
    "decode_v2",
    "encode_v1",
    "encode_v2",
    "input_specs",
    "output_specs",
]
